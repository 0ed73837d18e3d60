// A compact, read-only YAML tree built from yaml-cpp's event API (YAML::Parser + EventHandler).
//
// YAML::Load builds a graph of shared_ptr-linked nodes (hundreds of bytes and several mallocs per
// node, refcount traffic on every copy); for a 10,000-service kong.yaml that was about half of a
// reload. This tree holds the same information — type, tag, scalar text, Mark, children in order
// (duplicate keys kept), aliases sharing their anchor's node — in a few flat vectors, and
// tree::Node mirrors the part of YAML::Node's interface the loader uses, with the same results
// (tests/unit/yaml_tree_test.cpp compares the two on the same inputs).
#pragma once

#include <yaml-cpp/mark.h>
#include <yaml-cpp/node/type.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sb::config::tree {

class Document;

class Node {
 public:
  // As YAML::Node(): a defined null node with no position.
  Node() = default;
  // As YAML::Node(YAML::NodeType::Undefined).
  static Node undefined() { return Node(nullptr, kNone, kUndefined); }

  // Like YAML::Node, these throw YAML::InvalidNode on the result of a failed look-up.
  YAML::NodeType::value Type() const;
  bool IsDefined() const { return state_ == kNormal; }
  bool IsNull() const { return Type() == YAML::NodeType::Null; }
  bool IsScalar() const { return Type() == YAML::NodeType::Scalar; }
  bool IsSequence() const { return Type() == YAML::NodeType::Sequence; }
  bool IsMap() const { return Type() == YAML::NodeType::Map; }
  explicit operator bool() const { return IsDefined(); }
  bool operator!() const { return !IsDefined(); }
  // The text of a scalar, "" otherwise.
  const std::string& Scalar() const;
  // "?" for plain scalars and untagged collections, "!" for quoted scalars, the resolved tag
  // otherwise; "" for null nodes.
  const std::string& Tag() const;
  YAML::Mark Mark() const;
  // Entries of a map, elements of a sequence, 0 otherwise.
  std::size_t size() const;

  // A sequence's element, or an invalid node (IsDefined() false).
  Node operator[](std::size_t index) const;
  Node operator[](int index) const;  // negative: an invalid node
  // The first entry of a map whose key is a scalar with this text, or an invalid node.
  Node operator[](std::string_view key) const;
  Node operator[](const char* key) const { return (*this)[std::string_view(key)]; }
  Node operator[](const std::string& key) const { return (*this)[std::string_view(key)]; }

  // Identity: aliases are the node they refer to.
  bool is(const Node& other) const {
    return doc_ == other.doc_ && index_ == other.index_ && state_ == other.state_;
  }

  // What iterating a map (first/second) or a sequence (the element itself) yields, as
  // YAML::detail::iterator_value does.
  struct Entry;
  class iterator;
  iterator begin() const;
  iterator end() const;

 private:
  friend class Document;
  friend class Builder;
  static constexpr uint32_t kNone = UINT32_MAX;
  enum State : uint8_t { kNormal, kUndefined, kInvalid };
  Node(const Document* doc, uint32_t index, State state = kNormal)
      : doc_(doc), index_(index), state_(state) {}
  void check() const;

  const Document* doc_ = nullptr;  // null with kNone: the default null node
  uint32_t index_ = kNone;
  State state_ = kNormal;
};

struct Node::Entry : Node {
  Node first, second;
};

class Node::iterator {
 public:
  using value_type = Entry;
  using difference_type = std::ptrdiff_t;
  iterator() = default;
  const Entry& operator*() const { return current_; }
  const Entry* operator->() const { return &current_; }
  iterator& operator++() {
    pos_ += step_;
    load();
    return *this;
  }
  bool operator==(const iterator& o) const { return pos_ == o.pos_; }
  bool operator!=(const iterator& o) const { return pos_ != o.pos_; }

 private:
  friend class Node;
  iterator(const Document* doc, const uint32_t* pos, const uint32_t* end, uint32_t step)
      : doc_(doc), pos_(pos), end_(end), step_(step) {
    load();
  }
  void load();
  const Document* doc_ = nullptr;
  const uint32_t* pos_ = nullptr;
  const uint32_t* end_ = nullptr;
  uint32_t step_ = 1;
  Entry current_;
};

// The first document of a YAML stream, as YAML::Load reads it.
class Document {
 public:
  // Parses `text`; throws YAML::ParserException (with its Mark) on a syntax error, as
  // YAML::Load does. Nodes point at their Document, so it neither copies nor moves.
  explicit Document(std::string_view text);
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  // A document with nothing in it gives a null root with no position (YAML::Load's Node()).
  Node root() const { return root_ == Node::kNone ? Node() : Node(this, root_); }
  std::size_t node_count() const { return items_.size(); }

 private:
  friend class Node;
  friend class Node::iterator;
  friend class Builder;
  struct Item {
    std::string scalar;
    int32_t pos = 0, line = 0, column = 0;
    uint32_t first = 0, count = 0;  // children in kids_: one per element, two per map entry
    uint16_t tag = 0;               // index into tags_
    uint8_t type = YAML::NodeType::Null;
  };
  std::vector<Item> items_;
  std::vector<uint32_t> kids_;
  std::vector<std::string> tags_;
  uint32_t root_ = Node::kNone;
};

}  // namespace sb::config::tree
