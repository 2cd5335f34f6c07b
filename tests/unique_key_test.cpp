// Unique keys (errand/unique.hpp): what goes into a key, and keys that never change between
// versions (a stored key must match the same job enqueued by the next errand).
#include <errand/error.hpp>
#include <errand/unique.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

using errand::UniqueOptions;
using errand::detail::unique_key;

TEST(UniqueKey, IsSha256OfTheNamedPartsAndStableAcrossVersions) {
  // Known answers, computed independently (Python hashlib over the documented text).
  EXPECT_EQ(unique_key("send_mail", "default", R"({"to": "a@x", "n": 1})", {}),
            "c446cecf7965f271ddd5a2d8676a62061e90a6c899643feb03e01efb80045e59");
  EXPECT_EQ(unique_key("send_mail", "mail", R"({"customer_id": 42, "body": "hi"})",
                       UniqueOptions{.by_queue = true, .fields = {{"customer_id"}}}),
            "89eeeeb56c23c602a2340331edc4217da1ed3426798ed7e5d18f8d589a9dbe6b");
}

TEST(UniqueKey, TheSameJsonGivesTheSameKeyWhateverItsLayout) {
  EXPECT_EQ(unique_key("j", "q", R"({"a":1,"b":[1,2]})", {}),
            unique_key("j", "q", R"({ "b": [1, 2], "a": 1 })", {}));
  EXPECT_NE(unique_key("j", "q", R"({"a":1})", {}), unique_key("j", "q", R"({"a":2})", {}));
  EXPECT_NE(unique_key("j", "q", R"({"a":1})", {}), unique_key("k", "q", R"({"a":1})", {}));
}

TEST(UniqueKey, OnlyTheNamedPartsCount) {
  const UniqueOptions by_customer{.fields = {{"customer_id"}}};
  EXPECT_EQ(unique_key("j", "q", R"({"customer_id":7,"note":"x"})", by_customer),
            unique_key("j", "other", R"({"note":"y","customer_id":7})", by_customer));
  EXPECT_NE(unique_key("j", "q", R"({"customer_id":7})", by_customer),
            unique_key("j", "q", R"({"customer_id":"7"})", by_customer));
  // The queue only with by_queue.
  const UniqueOptions by_queue{.by_queue = true};
  EXPECT_NE(unique_key("j", "a", "{}", by_queue), unique_key("j", "b", "{}", by_queue));
  // No fields: the job type alone; the payload need not even be JSON.
  const UniqueOptions by_type{.fields = std::vector<std::string>{}};
  EXPECT_EQ(unique_key("j", "a", R"({"x":1})", by_type), unique_key("j", "b", "not json", by_type));
  // Parts cannot run into each other: name "ab" + queue "c" is not name "a" + queue "bc".
  EXPECT_NE(unique_key("ab", "c", "{}", by_queue), unique_key("a", "bc", "{}", by_queue));
  // 64 hex digits.
  const std::string key = unique_key("j", "q", "{}", {});
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(UniqueKey, BadInputIsRefusedClearly) {
  const UniqueOptions by_customer{.fields = {{"customer_id"}}};
  try {
    unique_key("j", "q", R"({"note":"x"})", by_customer);
    ADD_FAILURE() << "a payload without the named field was accepted";
  } catch (const errand::EnqueueError& e) {
    EXPECT_EQ(e.kind(), errand::EnqueueError::Kind::serialization);
    EXPECT_NE(std::string(e.what()).find("no field \"customer_id\""), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(unique_key("j", "q", R"([1,2])", by_customer), errand::EnqueueError);
  EXPECT_THROW(unique_key("j", "q", "{not json", {}), errand::EnqueueError);
  EXPECT_THROW(unique_key("j", "q", "{}", UniqueOptions{.states = 0}), errand::EnqueueError);
  EXPECT_THROW(unique_key("j", "q", "{}", UniqueOptions{.states = 1U << 9}), errand::EnqueueError);
  EXPECT_THROW(unique_key("j", "q", "{}", UniqueOptions{.period = errand::Duration{0}}),
               errand::EnqueueError);
}

}  // namespace

TEST(EnqueueOutcomeNames, AreTheWordsTheDocsUse) {
  EXPECT_EQ(errand::to_string(errand::EnqueueOutcome::inserted), "inserted");
  EXPECT_EQ(errand::to_string(errand::EnqueueOutcome::duplicate), "duplicate");
  EXPECT_EQ(errand::to_string(errand::EnqueueOutcome::replaced), "replaced");
}
