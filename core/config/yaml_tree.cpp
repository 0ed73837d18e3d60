#include "config/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <istream>
#include <streambuf>

namespace sb::config::tree {

namespace {

const std::string kEmpty;

// Reads the text in place (YAML::Load copies it into a stringstream first).
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view text) {
    char* p = const_cast<char*>(text.data());  // get area only: never written
    setg(p, p, p + text.size());
  }
};

}  // namespace

// What YAML::NodeBuilder does, into flat vectors: nodes in event order, each collection's
// children gathered on a stack and copied out contiguously when it ends.
class Builder : public YAML::EventHandler {
 public:
  explicit Builder(Document& doc) : doc_(doc) {
    doc_.tags_.emplace_back();  // 0: no tag (null nodes)
    doc_.tags_.emplace_back("?");
    doc_.tags_.emplace_back("!");
    anchors_.push_back(Node::kNone);  // anchor ids start at 1
  }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    uint32_t i = push(mark, anchor, YAML::NodeType::Null, {});
    done(i);
  }
  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override { done(anchors_.at(anchor)); }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    uint32_t i = push(mark, anchor, YAML::NodeType::Scalar, tag);
    doc_.items_[i].scalar = value;
    done(i);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open_.push_back({push(mark, anchor, YAML::NodeType::Sequence, tag), pending_.size()});
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open_.push_back({push(mark, anchor, YAML::NodeType::Map, tag), pending_.size()});
  }
  void OnMapEnd() override { close(); }

 private:
  uint16_t tag_index(const std::string& tag) {
    if (tag.empty()) return 0;
    if (tag == "?") return 1;
    if (tag == "!") return 2;
    for (size_t i = 3; i < doc_.tags_.size(); ++i) {
      if (doc_.tags_[i] == tag) return static_cast<uint16_t>(i);
    }
    if (doc_.tags_.size() >= UINT16_MAX) throw YAML::ParserException(YAML::Mark(), "too many tags");
    doc_.tags_.push_back(tag);
    return static_cast<uint16_t>(doc_.tags_.size() - 1);
  }

  uint32_t push(const YAML::Mark& mark, YAML::anchor_t anchor, YAML::NodeType::value type,
                const std::string& tag) {
    auto index = static_cast<uint32_t>(doc_.items_.size());
    auto& item = doc_.items_.emplace_back();
    item.pos = mark.pos;
    item.line = mark.line;
    item.column = mark.column;
    item.type = static_cast<uint8_t>(type);
    item.tag = tag_index(tag);
    // Registered when the node starts, as NodeBuilder does (an alias inside it is the node).
    if (anchor) {
      if (anchor >= anchors_.size()) anchors_.resize(anchor + 1, Node::kNone);
      anchors_[anchor] = index;
    }
    return index;
  }

  // A node is complete: it is the next child of the open collection, or the root.
  void done(uint32_t index) {
    if (open_.empty()) {
      if (doc_.root_ == Node::kNone) doc_.root_ = index;
      return;
    }
    pending_.push_back(index);
  }

  void close() {
    Open o = open_.back();
    open_.pop_back();
    auto& item = doc_.items_[o.index];
    item.first = static_cast<uint32_t>(doc_.kids_.size());
    item.count = static_cast<uint32_t>(pending_.size() - o.start);
    doc_.kids_.insert(doc_.kids_.end(), pending_.begin() + static_cast<std::ptrdiff_t>(o.start),
                      pending_.end());
    pending_.resize(o.start);
    done(o.index);
  }

  struct Open {
    uint32_t index;
    size_t start;  // where its children begin in pending_
  };
  Document& doc_;
  std::vector<Open> open_;
  std::vector<uint32_t> pending_;
  std::vector<uint32_t> anchors_;
};

Document::Document(std::string_view text) {
  // About one node per 10 bytes of kong.yaml: avoids most regrowth.
  items_.reserve(text.size() / 12 + 16);
  kids_.reserve(text.size() / 12 + 16);
  ViewBuf buf(text);
  std::istream in(&buf);
  YAML::Parser parser(in);
  Builder builder(*this);
  parser.HandleNextDocument(builder);  // the first document only, as YAML::Load
}

// ---------------------------------------------------------------------------------------------

void Node::check() const {
  if (state_ == kInvalid) throw YAML::InvalidNode("");
}

YAML::NodeType::value Node::Type() const {
  check();
  if (state_ == kUndefined) return YAML::NodeType::Undefined;
  if (!doc_) return YAML::NodeType::Null;
  return static_cast<YAML::NodeType::value>(doc_->items_[index_].type);
}

const std::string& Node::Scalar() const {
  check();
  if (!doc_) return kEmpty;
  return doc_->items_[index_].scalar;
}

const std::string& Node::Tag() const {
  check();
  if (!doc_) return kEmpty;
  return doc_->tags_[doc_->items_[index_].tag];
}

YAML::Mark Node::Mark() const {
  check();
  if (!doc_) return YAML::Mark::null_mark();
  const auto& item = doc_->items_[index_];
  YAML::Mark m;
  m.pos = item.pos;
  m.line = item.line;
  m.column = item.column;
  return m;
}

std::size_t Node::size() const {
  check();
  if (!doc_) return 0;
  const auto& item = doc_->items_[index_];
  if (item.type == YAML::NodeType::Map) return item.count / 2;
  if (item.type == YAML::NodeType::Sequence) return item.count;
  return 0;
}

Node Node::operator[](std::size_t index) const {
  check();
  if (doc_) {
    const auto& item = doc_->items_[index_];
    if (item.type == YAML::NodeType::Sequence && index < item.count)
      return Node(doc_, doc_->kids_[item.first + index]);
  }
  return Node(nullptr, kNone, kInvalid);
}

Node Node::operator[](int index) const {
  if (index >= 0) return (*this)[static_cast<std::size_t>(index)];
  check();
  return Node(nullptr, kNone, kInvalid);
}

Node Node::operator[](std::string_view key) const {
  check();
  if (doc_) {
    const auto& item = doc_->items_[index_];
    if (item.type == YAML::NodeType::Map) {
      for (uint32_t k = 0; k + 1 < item.count; k += 2) {
        const auto& key_item = doc_->items_[doc_->kids_[item.first + k]];
        if (key_item.type == YAML::NodeType::Scalar && key_item.scalar == key)
          return Node(doc_, doc_->kids_[item.first + k + 1]);
      }
    }
  }
  return Node(nullptr, kNone, kInvalid);
}

Node::iterator Node::begin() const {
  check();
  if (!doc_) return {};
  const auto& item = doc_->items_[index_];
  if (item.type != YAML::NodeType::Map && item.type != YAML::NodeType::Sequence) return {};
  const uint32_t* p = doc_->kids_.data() + item.first;
  return iterator(doc_, p, p + item.count, item.type == YAML::NodeType::Map ? 2 : 1);
}

Node::iterator Node::end() const {
  check();
  if (!doc_) return {};
  const auto& item = doc_->items_[index_];
  if (item.type != YAML::NodeType::Map && item.type != YAML::NodeType::Sequence) return {};
  const uint32_t* p = doc_->kids_.data() + item.first + item.count;
  return iterator(doc_, p, p, 1);
}

void Node::iterator::load() {
  if (pos_ == end_) return;
  if (step_ == 2) {
    static_cast<Node&>(current_) = Node();
    current_.first = Node(doc_, pos_[0]);
    current_.second = Node(doc_, pos_[1]);
  } else {
    static_cast<Node&>(current_) = Node(doc_, pos_[0]);
  }
}

}  // namespace sb::config::tree
