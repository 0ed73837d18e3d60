#include "json_edit.h"

namespace sbp::json {

void ObjectEditor::load(const Document& doc, StringPool& pool) {
  doc_ = &doc;
  members_.clear();
  extras_.clear();
  const Node& root = doc.root();
  if (root.kind != Kind::kObject) return;
  for (uint32_t c = 1; c < root.end; c = doc[c].end) {
    const Node& n = doc[c];
    std::string_view key = n.key;
    if (n.key_escaped) {
      std::string& s = pool.acquire();
      unescape(s, n.key);
      key = s;
    }
    Member m;
    m.key = key;
    m.raw_key = n.key;
    m.value.item = Item{Item::T::kNode, c, {}};
    members_.push_back(m);
  }
}

void ObjectEditor::load_empty() {
  doc_ = nullptr;
  members_.clear();
  extras_.clear();
}

int ObjectEditor::find(std::string_view key) const {
  for (size_t i = members_.size(); i-- > 0;) {
    if (members_[i].key == key) return static_cast<int>(i);
  }
  return -1;
}

int ObjectEditor::drop_earlier(int i) {
  // Earlier members with the same key (duplicates in the source): a Lua table has one value.
  std::string_view key = members_[static_cast<size_t>(i)].key;
  for (int k = i; k-- > 0;) {
    if (members_[static_cast<size_t>(k)].key == key) {
      members_.erase(members_.begin() + k);
      --i;
    }
  }
  return i;
}

bool ObjectEditor::truthy(std::string_view key) const {
  int i = find(key);
  if (i < 0) return false;
  const Value& v = members_[static_cast<size_t>(i)].value;
  if (v.k != K::kItem) return true;
  if (v.item.t == Item::T::kNode) return (*doc_)[v.item.node].kind != Kind::kFalse;
  if (v.item.t == Item::T::kRaw) return v.item.text != "false";
  return true;
}

void ObjectEditor::remove(std::string_view key) {
  for (int i = find(key); i >= 0; i = find(key)) members_.erase(members_.begin() + i);
}

void ObjectEditor::set(std::string_view key, Item value) {
  int i = find(key);
  if (i >= 0) {
    i = drop_earlier(i);
    members_[static_cast<size_t>(i)].value = Value{K::kItem, value, -1, -1};
    return;
  }
  Member m;
  m.key = key;
  m.new_key = true;
  m.value.item = value;
  members_.push_back(m);
}

bool ObjectEditor::rename(std::string_view from, std::string_view to) {
  int i = find(from);
  if (i < 0) return false;
  i = drop_earlier(i);
  if (from == to) return true;
  for (int j = find(to); j >= 0; j = find(to)) {
    members_.erase(members_.begin() + j);
    if (j < i) --i;
  }
  Member& m = members_[static_cast<size_t>(i)];
  m.key = to;
  m.new_key = true;
  return true;
}

void ObjectEditor::push_extra(Value& v, Item item) {
  int32_t idx = static_cast<int32_t>(extras_.size());
  extras_.push_back(Extra{item, -1});
  if (v.tail >= 0) {
    extras_[static_cast<size_t>(v.tail)].next = idx;
  } else {
    v.head = idx;
  }
  v.tail = idx;
}

void ObjectEditor::append(std::string_view key, Item value) {
  int i = find(key);
  if (i < 0) {
    Member m;
    m.key = key;
    m.new_key = true;
    m.value.k = K::kArray;
    push_extra(m.value, value);
    members_.push_back(m);
    return;
  }
  i = drop_earlier(i);
  Value& v = members_[static_cast<size_t>(i)].value;
  if (v.k != K::kItem) {
    push_extra(v, value);
    return;
  }
  Item cur = v.item;
  Value nv;
  if (cur.t == Item::T::kString) {
    nv.k = K::kArray;
    push_extra(nv, cur);
  } else if (cur.t == Item::T::kNode) {
    const Node& n = (*doc_)[cur.node];
    if (n.kind == Kind::kString) {
      nv.k = K::kArray;
      push_extra(nv, cur);
    } else if (n.kind == Kind::kArray) {
      nv.k = K::kArrayPlus;
      nv.item = cur;
    } else if (n.kind == Kind::kObject && n.count > 0) {
      nv.k = K::kObjectPlus;
      nv.item = cur;
    } else {
      // An empty object is an empty Lua table: after table.insert lua-cjson sees an array.
      nv.k = K::kArray;
    }
  } else {
    nv.k = K::kArray;  // number or boolean: Kong's append_value drops it
  }
  push_extra(nv, value);
  v = nv;
}

void ObjectEditor::write_item(std::string& out, const Item& item) const {
  switch (item.t) {
    case Item::T::kNode:
      write_compact(out, *doc_, item.node);
      break;
    case Item::T::kString:
      write_string(out, item.text);
      break;
    case Item::T::kRaw:
      out.append(item.text);
      break;
  }
}

void ObjectEditor::write(std::string& out) const {
  out.push_back('{');
  bool first = true;
  for (const Member& m : members_) {
    if (!first) out.push_back(',');
    first = false;
    if (m.new_key) {
      write_string(out, m.key);
    } else {
      out.push_back('"');
      out.append(m.raw_key);
      out.push_back('"');
    }
    out.push_back(':');
    const Value& v = m.value;
    switch (v.k) {
      case K::kItem:
        write_item(out, v.item);
        break;
      case K::kArray:
      case K::kArrayPlus: {
        bool any = false;
        if (v.k == K::kArrayPlus) {
          write_compact(out, *doc_, v.item.node);
          out.pop_back();  // ']'
          any = (*doc_)[v.item.node].count > 0;
        } else {
          out.push_back('[');
        }
        for (int32_t e = v.head; e >= 0; e = extras_[static_cast<size_t>(e)].next) {
          if (any) out.push_back(',');
          any = true;
          write_item(out, extras_[static_cast<size_t>(e)].item);
        }
        out.push_back(']');
        break;
      }
      case K::kObjectPlus: {
        write_compact(out, *doc_, v.item.node);
        out.pop_back();  // '}'
        unsigned n = 0;
        for (int32_t e = v.head; e >= 0; e = extras_[static_cast<size_t>(e)].next) {
          out.append(",\"").append(std::to_string(++n)).append("\":");
          write_item(out, extras_[static_cast<size_t>(e)].item);
        }
        out.push_back('}');
        break;
      }
    }
  }
  out.push_back('}');
}

}  // namespace sbp::json
