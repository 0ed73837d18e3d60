// JSON string escaping (the only JSON the core writes by hand).
#pragma once

#include <string>
#include <string_view>

namespace sb {

std::string json_escape(std::string_view s);

}  // namespace sb
