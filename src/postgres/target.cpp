#include "postgres/target.hpp"

#include <errand/error.hpp>

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <memory>
#include <set>

namespace errand::pg {

namespace {

// The keywords this libpq knows (PQconndefaults), read once.
const detail::KeywordSet& libpq_keywords() {
  static const detail::KeywordSet keywords = [] {
    detail::KeywordSet out;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(PQconndefaults(),
                                                                         &PQconninfoFree);
    for (const PQconninfoOption* o = options.get(); o && o->keyword; ++o)
      out.emplace(o->keyword);
    return out;
  }();
  return keywords;
}

}  // namespace

Target make_target(std::string_view conninfo) {
  Target target;
  target.info = detail::parse_pg_conninfo(conninfo, &libpq_keywords());
  target.description = target.info.describe();  // as given: without errand's defaults
  for (const auto& [key, value] : kConnectionDefaults)
    target.info.set_default(key, std::string(value));
  target.transaction_pooler = target.info.transaction_pooler.value_or(false);
  return target;
}

}  // namespace errand::pg
