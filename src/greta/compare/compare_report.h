#pragma once
// Rendering an analyzer Report: the human summary (stdout), the JSON report (--json) and the
// self-contained HTML page (--html).

#include <functional>
#include <string>

#include "greta/compare/compare_stats.h"

namespace greta::compare {

// Token text for display ("" when unknown). Supplied by the CLI when it can read a vocabulary.
using TokenTextFn = std::function<std::string(int32_t id)>;

// Verdict line first, then the per-token table (at most max_rows rows, the worst ones kept when
// there are more), the overall line, then "metadata differences:".
std::string render_text(const Report& r, size_t max_rows = 40);

nlohmann::json render_json(const Report& r);

std::string render_html(const Report& r, const TokenTextFn& token_text);

}  // namespace greta::compare
