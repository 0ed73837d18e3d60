// tree::Document (yaml-cpp's event API into a flat tree) against YAML::Load on the same text:
// every node's type, tag, scalar text, Mark and children must match, aliases must be the node
// they refer to, and syntax errors must carry the same message and Mark.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "config/loader.h"
#include "config/yaml_tree.h"

namespace sb::config {
namespace {

using tree::Document;

std::string where(const YAML::Mark& m) {
  return std::to_string(m.line) + ":" + std::to_string(m.column) + " @" + std::to_string(m.pos);
}

// One node's own properties.
void shallow(const YAML::Node& want, const tree::Node& got, const std::string& path) {
  ASSERT_EQ(want.IsDefined(), got.IsDefined()) << path;
  if (!want.IsDefined()) return;
  ASSERT_EQ(want.Type(), got.Type()) << path;
  EXPECT_EQ(want.Tag(), got.Tag()) << path;
  EXPECT_EQ(want.Scalar(), got.Scalar()) << path;
  EXPECT_EQ(where(want.Mark()), where(got.Mark())) << path;
  ASSERT_EQ(want.size(), got.size()) << path;
}

// Compares recursively through iteration, and index/key look-ups one level deep; `depth` stops
// self-referencing aliases (`&a [*a]`), which recurse for ever through YAML::Node too.
void same(const YAML::Node& want, const tree::Node& got, const std::string& path, int depth = 0) {
  shallow(want, got, path);
  if (::testing::Test::HasFatalFailure() || !want.IsDefined() || depth > 64) return;
  if (want.IsSequence()) {
    size_t n = 0;
    for (const auto& el : got) {
      ASSERT_LT(n, want.size()) << path;
      shallow(want[n], got[n], path + "[" + std::to_string(n) + "]");
      same(want[n], el, path + "[" + std::to_string(n) + "]", depth + 1);
      ++n;
    }
    EXPECT_EQ(n, want.size()) << path;
  } else if (want.IsMap()) {
    auto w = want.begin();
    auto g = got.begin();
    for (; w != want.end(); ++w, ++g) {
      ASSERT_TRUE(g != got.end()) << path;
      std::string key = w->first.IsScalar() ? w->first.Scalar() : "?";
      same(w->first, g->first, path + "<" + key + ">", depth + 1);
      same(w->second, g->second, path + "." + key, depth + 1);
      // Look-up by key finds the first entry with that text, as yaml-cpp's does.
      if (w->first.IsScalar()) {
        const YAML::Node& cw = want;
        shallow(cw[key], got[key], path + "[" + key + "]");
      }
    }
    EXPECT_TRUE(g == got.end()) << path;
  }
}

// Both parsers on `text`: equal trees, or equal exceptions.
void check(const std::string& text) {
  SCOPED_TRACE(text.substr(0, 200));
  std::optional<YAML::Node> want;
  std::string want_error;
  try {
    want = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    want_error = e.msg + " at " + where(e.mark);
  }
  std::optional<Document> doc;
  std::string got_error;
  try {
    doc.emplace(text);
  } catch (const YAML::Exception& e) {
    got_error = e.msg + " at " + where(e.mark);
  }
  ASSERT_EQ(want_error, got_error);
  if (!want) return;
  same(*want, doc->root(), "$");
}

TEST(YamlTree, Scalars) {
  check("a: 1\nb: '2'\nc: \"3\"\nd: true\ne: ~\nf: null\ng:\nh: .inf\ni: 0x1F\n");
  check("plain: hello world\nsingle: 'it''s'\ndouble: \"tab\\there \\u00e9\"\n");
}

TEST(YamlTree, EmptyDocuments) {
  check("");
  check("   \n\n");
  check("# only a comment\n");
  check("---\n");
  check("---\n...\n");
  check("~\n");
  check("null");
}

TEST(YamlTree, MultipleDocumentsReadsTheFirst) {
  check("a: 1\n---\nb: 2\n");
  check("---\na: 1\n--- [\n");  // the broken second document is never read
}

TEST(YamlTree, AnchorsAndAliases) {
  check("base: &b {host: x, port: 80}\nother: *b\nlist: [*b, *b]\n");
  check("a: &s text\nb: *s\n&k key: v\nc: {*k : 1}\n");
  check("a: &x 1\nb: &x 2\nc: *x\n");  // redefined anchor: the newest
  check("&r [1, *r]\n");               // an alias inside its own anchor
  Document doc("base: &b {host: x}\nother: *b\n");
  EXPECT_TRUE(doc.root()["base"].is(doc.root()["other"]));
  EXPECT_EQ(doc.root()["other"].Mark().line, 0);  // the anchored node's position
}

TEST(YamlTree, MergeKeys) {
  // yaml-cpp 0.7 keeps `<<` as an ordinary key; so must we.
  check("defaults: &d {retries: 5, protocol: http}\nservice:\n  <<: *d\n  name: s\n");
  check("a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n");
}

TEST(YamlTree, Tags) {
  check("a: !!str 5\nb: !!int '7'\nc: !custom x\nd: !!map {k: v}\ne: !!seq [1]\nf: ! x\n");
  check("%TAG !e! tag:example.com,2000:\n---\na: !e!foo bar\n");
  check("a: !<tag:yaml.org,2002:str> x\n");
}

TEST(YamlTree, MultiLineScalars) {
  check("lit: |\n  line one\n  line two\n\nfold: >\n  folded\n  text\n\n  para\nnext: 1\n");
  check("keep: |+\n  x\n\nstrip: |-\n  y\nind: |2\n   z\n");
  check("plain: this is\n  continued\n  here\nq: \"multi\n  line\"\n");
}

TEST(YamlTree, FlowStyle) {
  check("services: [{name: a, routes: [{paths: [/a, /b]}]}, {name: b}]\n");
  check("{a: [1, 2, {b: c}], d: {}, e: []}\n");
  check("[a, b, [c, [d]], {? complex : key}]\n");
  check("? [a, b]\n: seq key\n? {c: d}\n: map key\n");
}

TEST(YamlTree, DuplicateKeysKeptInOrder) {
  check("a: 1\nb: 2\na: 3\n");
  Document doc("a: 1\nb: 2\na: 3\n");
  EXPECT_EQ(doc.root().size(), 3u);
  EXPECT_EQ(doc.root()["a"].Scalar(), "1");  // look-ups find the first
}

TEST(YamlTree, Json) {
  check(R"({"_format_version": "3.0", "services": [{"name": "s", "url": "http://x",
            "routes": [{"paths": ["/"], "strip_path": false, "regex_priority": 0}],
            "tags": [], "plugins": null}]})");
  check("[1, 2.5, -3e2, \"\\u00e9\\n\", true, false, null, {}]");
}

TEST(YamlTree, SyntaxErrors) {
  check("a: [1, 2\n");
  check("a: {b: c\n");
  check("a: b: c\n");
  check("a:\n  - x\n y: 1\n");
  check("a: *nope\n");
  check("a: 'unterminated\n");
  check("a: \"bad \\q escape\"\n");
  check("key: value\n\tbad: tab\n");
  check("- a\nb: c\n");
  check("!!str &a1 [\n");
}

TEST(YamlTree, InvalidLookupsThrowLikeYamlCpp) {
  Document doc("a: 1\nl: [x]\n");
  tree::Node missing = doc.root()["nope"];
  EXPECT_FALSE(missing.IsDefined());
  EXPECT_FALSE(static_cast<bool>(missing));
  EXPECT_THROW(missing.Type(), YAML::InvalidNode);
  EXPECT_FALSE(doc.root()["l"][1].IsDefined());
  EXPECT_EQ(doc.root()["l"][0].Scalar(), "x");
  EXPECT_FALSE(doc.root()["a"]["b"].IsDefined());
  // Default: a defined null with no position, as YAML::Node().
  tree::Node null;
  EXPECT_TRUE(null.IsDefined());
  EXPECT_TRUE(null.IsNull());
  EXPECT_TRUE(null.Mark().is_null());
  EXPECT_FALSE(tree::Node::undefined().IsDefined());
  EXPECT_EQ(tree::Node::undefined().Type(), YAML::NodeType::Undefined);
}

// Every kong.yaml we have: the shared corpus and the fuzz seeds.
TEST(YamlTree, Corpus) {
  namespace fs = std::filesystem;
  size_t seen = 0;
  for (const fs::path& dir :
       {fs::path(SB_CORPUS_DIR), fs::path(SB_SOURCE_DIR) / "tests/fuzz/corpus/config",
        fs::path(SB_SOURCE_DIR) / "examples"}) {
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      auto ext = entry.path().extension();
      if (ext != ".yaml" && ext != ".yml" && ext != ".json") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      SCOPED_TRACE(entry.path().string());
      check(ss.str());
      ++seen;
    }
  }
  EXPECT_GT(seen, 0u);
}

// Loader errors keep their positions through the tree (alias and merge-key cases).
TEST(YamlTree, LoaderPositions) {
  auto r = load_string(
      "_format_version: \"3.0\"\n"
      "x-base: &base\n"
      "  port: 99999\n"
      "services:\n"
      "  - name: a\n"
      "    host: example.com\n"
      "    <<: *base\n",
      "kong.yaml");
  ASSERT_FALSE(r.ok());
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].to_string(), "kong.yaml:2:1: x-base: unknown field");
  auto e = r.errors.back().to_string();
  EXPECT_EQ(e, "kong.yaml:7:5: services[0] (name: a): <<: unknown field");

  auto parse = load_string("services:\n  - name: [\n", "kong.yaml");
  ASSERT_EQ(parse.errors.size(), 1u);
  EXPECT_EQ(parse.errors[0].pos.line, 3);
  EXPECT_EQ(parse.errors[0].pos.column, 1);
}

}  // namespace
}  // namespace sb::config
