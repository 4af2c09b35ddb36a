// dashboard_api.h: the dashboard's JSON API, independent of the HTTP server: a GET path and
// query string in, a status and a JSON body out. Endpoints (docs/dashboard.md): /api/overview,
// /api/hosts, /api/cells, /api/buckets, /api/bucket, /api/faults, /api/fault, /api/timeline,
// /api/rollouts. Query strings are hostile input (query_params.h): a bad one is a 400 naming
// the problem, never a crash or a partial answer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "dashboard_data.h"
#include "query_params.h"

namespace delos::dashboard {

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
};

class DashboardApi {
public:
    // `now` gives the current unix time in ms (tests fix it).
    explicit DashboardApi(DashboardData& data, std::function<std::int64_t()> now = {});

    // Answers GET `path` (without the query) with `query` (without '?'). Paths outside /api/
    // are not this class's: 404.
    HttpResponse get(std::string_view path, std::string_view query);

private:
    // Each endpoint gets its query already parsed against the parameters it takes (get()).
    HttpResponse overview(const QueryParams& params);
    HttpResponse hosts(const QueryParams& params);
    HttpResponse cells(const QueryParams& params);
    HttpResponse buckets(const QueryParams& params);
    HttpResponse bucket(const QueryParams& params);
    HttpResponse faults(const QueryParams& params);
    HttpResponse fault(const QueryParams& params);
    HttpResponse timeline(const QueryParams& params);
    HttpResponse rollouts(const QueryParams& params);

    DashboardData& m_data;
    std::function<std::int64_t()> m_now;
};

HttpResponse json_error(int status, const std::string& message);

} // namespace delos::dashboard
