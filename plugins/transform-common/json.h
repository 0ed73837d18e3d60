// A compact JSON reader/writer for the transform plugins. No dependencies, no exceptions.
//
// The reader validates RFC 8259 text and records it as a flat array of nodes in document order
// (pre-order); a node's subtree is [i, end). Scalars keep views of their source text, so a value
// that is copied through is written exactly as it was received (number precision, string escapes)
// instead of being decoded and re-encoded as lua-cjson does. Containers are written compactly.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sbp::json {

enum class Kind : uint8_t { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject };

struct Node {
  Kind kind = Kind::kNull;
  bool escaped = false;      // the string value contains backslash escapes
  bool key_escaped = false;  // the member key contains backslash escapes
  uint32_t end = 0;          // one past the last node of this subtree
  uint32_t count = 0;        // items of an array, members of an object
  std::string_view text;     // number token, or string content between the quotes (raw)
  std::string_view key;      // member key between the quotes (raw); empty outside objects
};

// lua-cjson's default decode depth limit.
inline constexpr uint32_t kMaxDepth = 1000;

class Document {
 public:
  // Parses one JSON value with optional surrounding whitespace. Returns false (and leaves the
  // document empty) on any syntax error or nesting deeper than kMaxDepth. Views point into
  // `text`, which must outlive the document's use. Reuses its storage across calls.
  bool parse(std::string_view text);
  bool empty() const { return nodes_.empty(); }
  const Node& root() const { return nodes_.front(); }
  const Node& operator[](uint32_t i) const { return nodes_[i]; }
  uint32_t size() const { return static_cast<uint32_t>(nodes_.size()); }
  // Children of container i: the first is i + 1, each next one starts at the previous' `end`.

 private:
  std::vector<Node> nodes_;
  std::vector<uint32_t> stack_;
};

// Appends node i of `doc` (its whole subtree) without insignificant whitespace.
void write_compact(std::string& out, const Document& doc, uint32_t i);

// Appends `s` as a quoted JSON string escaped exactly as lua-cjson (OpenResty's fork, Kong's
// default settings) does: '"', '\\' and '/' are backslash-escaped, \b \t \n \f \r by name, the
// other control characters and DEL as \u00XX; all other bytes (UTF-8 included) are copied.
void write_string(std::string& out, std::string_view s);

// Appends the decoded content of a raw JSON string (as found between the quotes of validated
// text): escapes resolved, \uXXXX (and surrogate pairs) to UTF-8.
void unescape(std::string& out, std::string_view raw);

// Appends a number as lua-cjson prints it ("%.14g"). Returns false for NaN and infinities,
// which lua-cjson refuses to encode.
bool write_number(std::string& out, double v);

// The decoded key of member node `n` (a view of the raw key when it has no escapes, else
// decoded into `scratch`).
std::string_view key_of(const Node& n, std::string& scratch);

}  // namespace sbp::json
