// dashboard_assets.h: the page's static files (assets/), embedded in delosd at build time by
// cmake/embed_assets.cmake, so the dashboard needs no files, CDN or build step at run time.
#pragma once

#include <cstddef>
#include <string_view>

namespace delos::dashboard {

struct Asset {
    std::string_view path;          // "/", "/app.js", ...
    std::string_view content_type;
    std::string_view bytes;
};

// The asset served at `path`, or null.
const Asset* find_asset(std::string_view path);

} // namespace delos::dashboard
