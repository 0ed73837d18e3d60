// Edits the top-level members of a JSON object the way Kong's transformer plugins edit the Lua
// table lua-cjson decoded, then writes it back compactly. Untouched values are copied from the
// source text as they were (lua-cjson would re-encode them: 14 significant digits, "\/").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "json.h"
#include "scratch.h"

namespace sbp::json {

// A value to put into the object.
struct Item {
  enum class T : uint8_t {
    kNode,    // node `node` of the loaded document
    kString,  // `text` is an unescaped string, written the way lua-cjson escapes
    kRaw,     // `text` is JSON (a number, true, false)
  };
  T t = T::kString;
  uint32_t node = 0;
  std::string_view text;

  static Item string(std::string_view s) { return Item{T::kString, 0, s}; }
  static Item raw(std::string_view json) { return Item{T::kRaw, 0, json}; }
};

class ObjectEditor {
 public:
  // Starts from the members of doc's root object. Escaped keys are decoded into `pool`. As in a
  // Lua table a duplicated key has its last value: look-ups see the last one and an edit of the
  // key drops the earlier ones (untouched duplicates are written back as they came).
  void load(const Document& doc, StringPool& pool);
  // Starts from an empty object (no document).
  void load_empty();

  bool present(std::string_view key) const { return find(key) >= 0; }
  // Lua truthiness of the decoded value: present and not `false` (JSON null is cjson.null, a
  // truthy userdata).
  bool truthy(std::string_view key) const;

  void remove(std::string_view key);
  // Sets the value: in place when the key exists, else as a new last member.
  void set(std::string_view key, Item value);
  // Moves the value of `from` to key `to` (replacing a member `to`), keeping from's position.
  // Returns false when `from` is absent.
  bool rename(std::string_view from, std::string_view to);
  // Kong's append_value(): a string becomes [old, value]; an array (or an object: Lua's
  // table.insert adds key "1", "2"...) gets value appended; anything else (absent, number,
  // boolean, null) becomes [value].
  void append(std::string_view key, Item value);

  // Appends the object as compact JSON.
  void write(std::string& out) const;

 private:
  enum class K : uint8_t { kItem, kArray, kArrayPlus, kObjectPlus };
  struct Value {
    K k = K::kItem;
    Item item;          // kItem; the node for kArrayPlus / kObjectPlus
    int32_t head = -1;  // appended items (kArray, kArrayPlus, kObjectPlus)
    int32_t tail = -1;
  };
  struct Member {
    std::string_view key;      // decoded
    std::string_view raw_key;  // as written in the source (when !new_key)
    bool new_key = false;
    Value value;
  };
  struct Extra {
    Item item;
    int32_t next = -1;
  };

  int find(std::string_view key) const;  // the last member with `key`, or -1
  int drop_earlier(int i);               // erases earlier duplicates of member i; i's new index
  void push_extra(Value& v, Item item);
  void write_item(std::string& out, const Item& item) const;

  const Document* doc_ = nullptr;
  std::vector<Member> members_;
  std::vector<Extra> extras_;
};

}  // namespace sbp::json
