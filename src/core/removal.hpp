// Checks shared by errand::remove_store's SQLite and PostgreSQL halves.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace errand::detail {

// Throws StoreError "<what> ...; left untouched" unless `stored` (the meta table's
// schema_version, nullopt when it has none) is a schema version up to `latest`, this build's.
void check_removable_version(const std::optional<std::string>& stored, int latest,
                             std::string_view what);

}  // namespace errand::detail
