#include "greta/tokenizer/vocab.h"

#include <algorithm>
#include <cctype>

#include "greta/core/error.h"
#include "greta/gguf/gguf_file.h"

namespace greta {

namespace {

using gguf::ValueType;

bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
    case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64:
      return true;
    default:
      return false;
  }
}

uint32_t attr_from_token_type(int64_t t) {
  switch (t) {
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return kAttrUndefined;
  }
}

// Reads an optional special-token id; -1 in the file means "none". Out-of-range ids are an error.
TokenId read_special_id(const gguf::GgufFile& file, const char* key, TokenId fallback, int32_t n_vocab) {
  const gguf::Value* v = file.find(key);
  if (v == nullptr) return fallback < n_vocab ? fallback : -1;
  int64_t id = 0;
  if (v->type == ValueType::I8 || v->type == ValueType::I16 || v->type == ValueType::I32 || v->type == ValueType::I64) {
    id = v->i;
  } else if (is_integer_type(v->type)) {
    id = v->u > static_cast<uint64_t>(INT32_MAX) ? INT64_MAX : static_cast<int64_t>(v->u);
  } else {
    fail(std::string("tokenizer: key '") + key + "' has type " + gguf::value_type_name(v->type) +
         ", expected an integer token id");
  }
  if (id == -1 || (v->type == ValueType::U32 && v->u == UINT32_MAX)) return -1;
  if (id < 0 || id >= n_vocab) {
    fail(std::string("tokenizer: ") + key + " = " + std::to_string(id) + " is not a token id (vocab has " +
         std::to_string(n_vocab) + " tokens)");
  }
  return static_cast<TokenId>(id);
}

std::string lowercase(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

Vocab vocab_load(const gguf::GgufFile& file) {
  Vocab v;
  const gguf::Value* model_v = file.find("tokenizer.ggml.model");
  if (model_v == nullptr) fail("tokenizer: key 'tokenizer.ggml.model' missing; the file has no tokenizer");
  const std::string_view model = file.get_string("tokenizer.ggml.model");
  if (model == "llama") {
    v.type = VocabType::kSpm;
  } else if (model == "gpt2") {
    v.type = VocabType::kBpe;
  } else {
    fail("tokenizer: unsupported tokenizer.ggml.model '" + std::string(model) + "' (supported: llama, gpt2)");
  }
  v.pre = std::string(file.get_string_or("tokenizer.ggml.pre", ""));

  const gguf::ArrayValue& tokens = file.get_array("tokenizer.ggml.tokens", ValueType::STRING);
  if (tokens.size == 0) fail("tokenizer: tokenizer.ggml.tokens is empty");
  if (tokens.size > static_cast<uint64_t>(INT32_MAX)) fail("tokenizer: tokenizer.ggml.tokens has too many entries");
  const int32_t n = static_cast<int32_t>(tokens.size);

  size_t total = 0;
  for (std::string_view s : tokens.strings) total += s.size();
  if (total >= UINT32_MAX) fail("tokenizer: token texts are too large");
  v.arena.reserve(total);
  v.text_off.resize(n);
  v.text_len.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    v.text_off[i] = static_cast<uint32_t>(v.arena.size());
    v.text_len[i] = static_cast<uint32_t>(tokens.strings[i].size());
    v.arena.insert(v.arena.end(), tokens.strings[i].begin(), tokens.strings[i].end());
  }
  v.token_to_id.reserve(n);
  for (int32_t i = 0; i < n; ++i) v.token_to_id[v.text(i)] = i;

  // Scores: required by SPM (they drive its merges), optional for BPE.
  v.scores.assign(n, 0.0f);
  if (const gguf::Value* sv = file.find("tokenizer.ggml.scores")) {
    if (sv->type != ValueType::ARRAY || (sv->arr->elem_type != ValueType::F32 && sv->arr->elem_type != ValueType::F64)) {
      fail("tokenizer: tokenizer.ggml.scores must be an array of f32");
    }
    if (sv->arr->size != tokens.size) {
      fail("tokenizer: tokenizer.ggml.scores has " + std::to_string(sv->arr->size) + " entries but tokenizer.ggml.tokens has " +
           std::to_string(n) + "; expected one score per token");
    }
    for (int32_t i = 0; i < n; ++i) v.scores[i] = static_cast<float>(sv->arr->get_float(i));
  } else if (v.type == VocabType::kSpm) {
    fail("tokenizer: key 'tokenizer.ggml.scores' missing; the SentencePiece (llama) tokenizer needs one score per token");
  }

  v.attrs.assign(n, kAttrNormal);
  if (const gguf::Value* tv = file.find("tokenizer.ggml.token_type")) {
    if (tv->type != ValueType::ARRAY || !is_integer_type(tv->arr->elem_type)) {
      fail("tokenizer: tokenizer.ggml.token_type must be an array of i32");
    }
    if (tv->arr->size != tokens.size) {
      fail("tokenizer: tokenizer.ggml.token_type has " + std::to_string(tv->arr->size) +
           " entries but tokenizer.ggml.tokens has " + std::to_string(n) + "; expected one type per token");
    }
    for (int32_t i = 0; i < n; ++i) v.attrs[i] = attr_from_token_type(tv->arr->get_int(i));
  }

  // Defaults as llama.cpp's llama_vocab::load when the keys are absent.
  const bool spm = v.type == VocabType::kSpm;
  v.bos = read_special_id(file, "tokenizer.ggml.bos_token_id", spm ? 1 : 11, n);
  v.eos = read_special_id(file, "tokenizer.ggml.eos_token_id", spm ? 2 : 11, n);
  v.unk = read_special_id(file, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n);
  v.eot = read_special_id(file, "tokenizer.ggml.eot_token_id", -1, n);
  v.eom = read_special_id(file, "tokenizer.ggml.eom_token_id", -1, n);

  bool add_bos_default = spm;
  if (!spm) {
    for (std::string_view p : {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                               "tekken", "chameleon"}) {
      if (v.pre == p) add_bos_default = true;
    }
  }
  v.add_bos = file.get_bool_or("tokenizer.ggml.add_bos_token", add_bos_default);
  v.add_eos = file.get_bool_or("tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = file.get_bool_or("tokenizer.ggml.add_space_prefix", spm);

  // End-of-generation tokens: EOS/EOT/EOM plus the texts llama.cpp recognises; those texts are
  // forced to control type (so they are never split out of plain text), as llama.cpp does.
  v.eog.assign(n, 0);
  for (std::string_view t : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
                             "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>"}) {
    const TokenId id = v.find(t);
    if (id < 0) continue;
    v.eog[id] = 1;
    if (!(v.attrs[id] & kAttrControl)) v.attrs[id] = kAttrControl;
    if (v.eot < 0 && t != "<|eom_id|>" && t != "<|return|>" && t != "<|call|>" && t != "<|end_of_text|>") v.eot = id;
  }
  for (TokenId id : {v.eos, v.eot, v.eom}) {
    if (id >= 0) v.eog[id] = 1;
  }

  for (int32_t i = 0; i < n; ++i) {
    if ((v.attrs[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) && v.text_len[i] > 0) {
      v.special_cache.push_back(i);
    }
  }
  std::stable_sort(v.special_cache.begin(), v.special_cache.end(),
                   [&](TokenId a, TokenId b) { return v.text_len[a] > v.text_len[b]; });
  v.special_by_first_byte.assign(256, {});
  for (uint32_t k = 0; k < v.special_cache.size(); ++k) {
    v.special_by_first_byte[static_cast<uint8_t>(v.text(v.special_cache[k])[0])].push_back(k);
  }

  // Phi-3's special tokens swallow the whitespace after them (llama.cpp sets this by model name).
  const std::string name = lowercase(file.get_string_or("general.name", ""));
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (TokenId id : v.special_cache) v.attrs[id] |= kAttrRstrip;
    if (TokenId id = v.find("</s>"); id >= 0) v.attrs[id] |= kAttrRstrip;
    for (std::string_view t : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (TokenId id = v.find(t); id >= 0) v.attrs[id] &= ~kAttrRstrip;
    }
  }
  return v;
}

std::vector<Fragment> vocab_partition_special(const Vocab& vocab, std::string_view text, bool parse_special) {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, 0, static_cast<uint32_t>(text.size())});

  // One pass over the text finds which special tokens occur at all (a token absent from the text
  // is absent from every fragment); only those run the partition below, in cache order.
  const auto eligible = [&](TokenId id) {
    return parse_special || !(vocab.attrs[id] & (kAttrControl | kAttrUnknown));
  };
  std::vector<uint8_t> occurs(vocab.special_cache.size(), 0);
  std::vector<uint32_t> unseen(256, 0);  // eligible, not yet found, per first byte
  size_t n_unseen = 0;
  for (int b = 0; b < 256; ++b) {
    for (uint32_t k : vocab.special_by_first_byte[b]) unseen[b] += eligible(vocab.special_cache[k]);
    n_unseen += unseen[b];
  }
  for (size_t i = 0; i < text.size() && n_unseen > 0; ++i) {
    const uint8_t b = static_cast<uint8_t>(text[i]);
    if (unseen[b] == 0) continue;
    for (uint32_t k : vocab.special_by_first_byte[b]) {
      const TokenId id = vocab.special_cache[k];
      if (occurs[k] || !eligible(id)) continue;
      if (text.compare(i, vocab.text_len[id], vocab.text(id)) == 0) {
        occurs[k] = 1;
        --unseen[b];
        --n_unseen;
      }
    }
  }

  std::vector<Fragment> next;
  for (uint32_t k = 0; k < vocab.special_cache.size(); ++k) {
    if (!occurs[k]) continue;
    const TokenId id = vocab.special_cache[k];
    const uint32_t attr = vocab.attrs[id];
    const std::string_view tok = vocab.text(id);
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t off = f.offset;
      size_t len = f.length;
      while (true) {
        const size_t match = text.substr(0, off + len).find(tok, off);
        if (match == std::string_view::npos) {
          if (len > 0) next.push_back({-1, static_cast<uint32_t>(off), static_cast<uint32_t>(len)});
          break;
        }
        size_t left_len = match - off;
        if (attr & kAttrLstrip) {
          while (left_len > 0 && is_ascii_space(text[off + left_len - 1])) --left_len;
        }
        if (left_len > 0) next.push_back({-1, static_cast<uint32_t>(off), static_cast<uint32_t>(left_len)});
        next.push_back({id, static_cast<uint32_t>(match), static_cast<uint32_t>(tok.size())});
        size_t r_off = match + tok.size();
        if (r_off >= off + len) break;
        size_t r_len = off + len - r_off;
        if (attr & kAttrRstrip) {
          while (r_len > 0 && is_ascii_space(text[r_off])) {
            ++r_off;
            --r_len;
          }
        }
        off = r_off;
        len = r_len;
      }
    }
    frags.swap(next);
  }
  return frags;
}

}  // namespace greta
