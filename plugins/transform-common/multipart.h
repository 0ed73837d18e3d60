// multipart/form-data bodies, with the operations Kong's lua-multipart offers plugins
// (get / set_simple / delete / tostring). Parts are views into the body (or, for parts a plugin
// adds, into strings the caller keeps alive until serialize()).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sbp::multipart {

// The boundary parameter as lua-multipart reads it: ";%s*boundary=(%S+)", then one pair of
// surrounding quotes removed. nullopt when absent or empty.
std::optional<std::string_view> boundary(std::string_view content_type);

struct Part {
  std::string_view name;     // the Content-Disposition name parameter
  std::string_view headers;  // raw header lines (without the blank line); empty for simple parts
  std::string_view value;
  bool simple = false;  // written with only `Content-Disposition: form-data; name="<name>"`
  bool hidden = false;  // lua-multipart lost track of it (a later same-name part was deleted)
};

class Body {
 public:
  // Splits `body` at `--boundary` delimiters. Parts without a name are dropped, as lua-multipart
  // does. Never fails: text that is not multipart yields no parts.
  void parse(std::string_view body, std::string_view boundary);
  const std::vector<Part>& parts() const { return parts_; }

  // The last visible part named `name` (lua-multipart keeps one index per name: the last).
  const Part* get(std::string_view name) const;
  // Replaces the part `get(name)` returns with a simple part, or appends a new simple part.
  void set_simple(std::string_view name, std::string_view value);
  // Removes the part `get(name)` returns; earlier parts of that name stay in the body but are no
  // longer visible to get() (lua-multipart's index is gone).
  void remove(std::string_view name);
  // Appends the body (lua-multipart's tostring): "--b\r\n<headers>\r\n\r\n<value>\r\n" per part,
  // then "--b--\r\n"; nothing at all when there are no parts.
  void serialize(std::string& out, std::string_view boundary) const;

 private:
  std::vector<Part> parts_;
};

}  // namespace sbp::multipart
