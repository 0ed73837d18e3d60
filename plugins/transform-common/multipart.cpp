#include "multipart.h"

#include "text.h"

namespace sbp::multipart {
namespace {

// The name parameter of a Content-Disposition value ("form-data; name=\"a\"; filename=...").
std::optional<std::string_view> disposition_name(std::string_view value) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t semi = value.find(';', pos);
    if (semi == std::string_view::npos) semi = value.size();
    std::string_view param = trim(value.substr(pos, semi - pos));
    pos = semi + 1;
    if (param.size() < 5 || !iequals(param.substr(0, 5), "name=")) continue;
    std::string_view v = trim(param.substr(5));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return std::nullopt;
}

std::optional<std::string_view> part_name(std::string_view headers) {
  size_t pos = 0;
  while (pos < headers.size()) {
    size_t eol = headers.find('\n', pos);
    if (eol == std::string_view::npos) eol = headers.size();
    std::string_view line = headers.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (!iequals(trim(line.substr(0, colon)), "content-disposition")) continue;
    return disposition_name(line.substr(colon + 1));
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> boundary(std::string_view ct) {
  for (size_t semi = ct.find(';'); semi != std::string_view::npos; semi = ct.find(';', semi + 1)) {
    size_t p = semi + 1;
    while (p < ct.size() && is_space(ct[p])) ++p;
    if (ct.substr(p, 9) != "boundary=") continue;
    p += 9;
    size_t end = p;
    while (end < ct.size() && !is_space(ct[end])) ++end;
    std::string_view b = ct.substr(p, end - p);
    if (b.empty()) continue;  // "%S+" needs one character: look for a later match
    if (b.size() >= 2 &&
        ((b.front() == '"' && b.back() == '"') || (b.front() == '\'' && b.back() == '\''))) {
      b = b.substr(1, b.size() - 2);
    }
    if (b.empty()) return std::nullopt;
    return b;
  }
  return std::nullopt;
}

void Body::parse(std::string_view body, std::string_view b) {
  parts_.clear();
  if (b.empty()) return;
  thread_local std::string delim;
  delim.assign("--").append(b);
  // The first delimiter: at the start of the body or of a line.
  size_t pos = body.find(delim);
  while (pos != std::string_view::npos && pos != 0 && body[pos - 1] != '\n') {
    pos = body.find(delim, pos + 1);
  }
  while (pos != std::string_view::npos) {
    size_t p = pos + delim.size();
    if (body.substr(p, 2) == "--") break;  // close delimiter
    size_t eol = body.find('\n', p);
    if (eol == std::string_view::npos) break;
    size_t hstart = eol + 1;
    // Headers end at the first empty line.
    size_t hend = hstart, vstart = std::string_view::npos;
    if (body.substr(hstart, 2) == "\r\n") {
      vstart = hstart + 2;
    } else if (body.substr(hstart, 1) == "\n") {
      vstart = hstart + 1;
    } else {
      size_t crlf = body.find("\r\n\r\n", hstart);
      size_t lf = body.find("\n\n", hstart);
      if (crlf != std::string_view::npos && (lf == std::string_view::npos || crlf < lf)) {
        hend = crlf;
        vstart = crlf + 4;
      } else if (lf != std::string_view::npos) {
        hend = lf;
        vstart = lf + 2;
      }
    }
    if (vstart == std::string_view::npos) break;
    // The value runs to the next delimiter at the start of a line (its line break excluded).
    size_t next = body.find(delim, vstart);
    while (next != std::string_view::npos && next != vstart && body[next - 1] != '\n') {
      next = body.find(delim, next + 1);
    }
    size_t vend = next == std::string_view::npos ? body.size() : next;
    if (vend > vstart && body[vend - 1] == '\n') --vend;
    if (vend > vstart && body[vend - 1] == '\r') --vend;
    Part part;
    part.headers = body.substr(hstart, hend - hstart);
    part.value = body.substr(vstart, vend - vstart);
    if (auto name = part_name(part.headers)) {
      part.name = *name;
      parts_.push_back(part);
    }
    pos = next;
  }
}

const Part* Body::get(std::string_view name) const {
  for (size_t i = parts_.size(); i-- > 0;) {
    if (parts_[i].name == name) return parts_[i].hidden ? nullptr : &parts_[i];
  }
  return nullptr;
}

void Body::set_simple(std::string_view name, std::string_view value) {
  Part part;
  part.name = name;
  part.value = value;
  part.simple = true;
  for (size_t i = parts_.size(); i-- > 0;) {
    if (parts_[i].name == name && !parts_[i].hidden) {
      parts_[i] = part;
      return;
    }
    if (parts_[i].name == name) break;
  }
  parts_.push_back(part);
}

void Body::remove(std::string_view name) {
  for (size_t i = parts_.size(); i-- > 0;) {
    if (parts_[i].name != name) continue;
    if (parts_[i].hidden) return;
    parts_.erase(parts_.begin() + static_cast<std::ptrdiff_t>(i));
    for (size_t k = 0; k < i; ++k) {
      if (parts_[k].name == name) parts_[k].hidden = true;
    }
    return;
  }
}

void Body::serialize(std::string& out, std::string_view b) const {
  if (parts_.empty()) return;
  for (const Part& p : parts_) {
    out.append("--").append(b).append("\r\n");
    if (p.simple) {
      out.append("Content-Disposition: form-data; name=\"").append(p.name).append("\"\r\n");
    } else {
      size_t pos = 0;
      while (pos < p.headers.size()) {
        size_t eol = p.headers.find('\n', pos);
        if (eol == std::string_view::npos) eol = p.headers.size();
        std::string_view line = p.headers.substr(pos, eol - pos);
        pos = eol + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        out.append(line).append("\r\n");
      }
    }
    out.append("\r\n").append(p.value).append("\r\n");
  }
  out.append("--").append(b).append("--\r\n");
}

}  // namespace sbp::multipart
