// The dashboard's static files (web/assets/), compiled into the library by
// cmake/embed_assets.cmake: nothing is read from disk or fetched at run time.
#pragma once

#include <string_view>

namespace errand::web {

struct Asset {
  std::string_view name;          // "app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view content;
};

// The asset named `name`, or null.
const Asset* find_asset(std::string_view name);

}  // namespace errand::web
