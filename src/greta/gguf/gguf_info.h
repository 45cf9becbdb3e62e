#pragma once
// Human-readable dump of a GGUF file (like gguf-dump): header, every key with its type and value
// (arrays abbreviated to their first elements and length), then the tensor table.

#include <ostream>
#include <string>

#include "greta/gguf/gguf_file.h"

namespace greta::gguf {

// One value as text: strings quoted and escaped (long ones cut), arrays as
// "[e0, e1, ... (N elements)]" with at most max_elems elements.
std::string value_to_text(const Value& v, int max_elems = 6);
// "u32", "string", "array[string]", "array[array[u16]]" ...
std::string value_type_text(const Value& v);

void print_info(const GgufFile& f, std::ostream& out, int max_elems = 6);

}  // namespace greta::gguf
