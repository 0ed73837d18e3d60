// A position in a config file, shared by the entity model and the schema engine.
#pragma once

namespace sb::config {

// Where an entity or field came from in the source file (1-based; 0 = unknown).
struct SourcePos {
  int line = 0;
  int column = 0;
};

}  // namespace sb::config
