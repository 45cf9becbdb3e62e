#include "greta/tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "greta/core/error.h"
#include "greta/tokenizer/unicode_util.h"

namespace greta {

namespace {

// The regexes are llama.cpp's (llama-vocab.cpp, llm_tokenizer_bpe), including its adaptations of
// the tokenizer.json originals, so that the splits match llama.cpp rather than Hugging Face.
constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kGpt4o =
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Characters that Unicode normalization would change are written as \x{...} escapes.
constexpr const char* kDeepseekLlmLetters =
    R"(\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\x{1F7D}ᾀ-ᾴᾶ-ᾼ\x{1FBE}ῂ-ῄῆ-ῌῐ-\x{1FD3}ῖ-\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\x{2126}ℨ\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+)";
constexpr const char* kDeepseekLlmPunct = R"(\s?[!-/:-~！-／：-～‘-‟　-。]+)";
constexpr const char* kCjk = R"([一-龥ࠀ-一가-퟿]+)";

// llama.cpp's whitespace set (unicode.cpp), used wherever a pattern says \s.
constexpr const char* kWhitespaceClass =
    R"(\t-\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

bool name_in(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (name == n) return true;
  }
  return false;
}

}  // namespace

std::string pretokenize_rewrite_whitespace(std::string_view p) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == 's') {
        out += in_class ? std::string(kWhitespaceClass) : "[" + std::string(kWhitespaceClass) + "]";
      } else if (n == 'S') {
        GRETA_ASSERT_MSG(!in_class, "\\S inside a character class is not supported");
        out += "[^" + std::string(kWhitespaceClass) + "]";
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' or '^]' right after '[' is literal.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

std::vector<std::string> PreTokenizer::regexes_for(std::string_view name, bool* known) {
  *known = true;
  if (name.empty() || name == "default") {
    return {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"};
  }
  if (name_in(name, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                     "dbrx", "smaug-bpe"})) {
    return {kLlama3};
  }
  if (name == "deepseek-llm") {
    return {R"([\r\n])", kDeepseekLlmLetters, kDeepseekLlmPunct, R"(\s+$)", kCjk, R"(\p{N}+)"};
  }
  if (name == "deepseek-coder") {
    return {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, R"(\p{N})"};
  }
  if (name == "falcon") {
    return {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"};
  }
  if (name_in(name, {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"})) {
    return {R"(\p{N})", kGpt2};
  }
  if (name_in(name, {"gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "gigachat", "jina-v1-en",
                     "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum"})) {
    return {kGpt2};
  }
  if (name_in(name, {"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"})) {
    return {kQwen2};
  }
  if (name_in(name, {"gpt-4o", "llama4"})) {
    return {kGpt4o};
  }
  if (name_in(name, {"poro-chat", "bloom", "gpt3-finnish"})) {
    return {R"( ?[^(\s|.,!?…。，、।۔،)]+)"};
  }
  *known = false;
  return {};
}

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() { pcre2_code_free(code); }
};

std::unique_ptr<PreTokenizer> PreTokenizer::create(std::string_view name) {
  bool known = false;
  std::vector<std::string> regexes = regexes_for(name, &known);
  if (!known) {
    fail("unknown pre-tokenizer tokenizer.ggml.pre = '" + std::string(name) +
         "' (supported: default, gpt-2, llama-bpe, qwen2, deepseek-llm, deepseek-coder, falcon, mpt, starcoder, "
         "refact, command-r, phi-2, stablelm2, gpt-4o, and aliases)");
  }
  auto pre = std::make_unique<PreTokenizer>(regexes);
  pre->set_ignore_merges(
      name_in(name, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"}));
  return pre;
}

PreTokenizer::PreTokenizer(const std::vector<std::string>& regexes) {
  for (const std::string& r : regexes) {
    const std::string pattern = pretokenize_rewrite_whitespace(r);
    int err = 0;
    PCRE2_SIZE err_off = 0;
    auto c = std::make_unique<Compiled>();
    c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                            PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &err_off, nullptr);
    if (c->code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      GRETA_ASSERT_MSG(false, (std::string("pre-tokenizer regex does not compile: ") +
                               reinterpret_cast<const char*>(msg) + " in " + pattern)
                                  .c_str());
    }
    c->jit = pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE) == 0;
    regexes_.push_back(std::move(c));
  }
}

PreTokenizer::~PreTokenizer() = default;

std::vector<TextSpan> PreTokenizer::split(std::string_view text_in) const {
  std::vector<TextSpan> spans;
  if (text_in.empty()) return spans;
  GRETA_ASSERT(text_in.size() < UINT32_MAX);

  // PCRE2 refuses surrogate code points, which llama.cpp lets through. Match on a copy where each
  // surrogate is a private-use character: same byte length, same classes (neither L, N, P nor \s).
  std::string shadow;
  std::string_view text = text_in;
  for (size_t i = 0; i + 1 < text_in.size(); ++i) {
    if (static_cast<uint8_t>(text_in[i]) == 0xED && static_cast<uint8_t>(text_in[i + 1]) >= 0xA0) {
      if (shadow.empty()) shadow.assign(text_in);
      shadow[i] = static_cast<char>(0xEE);
      shadow[i + 1] = static_cast<char>(0x80);
      if (i + 2 < shadow.size()) shadow[i + 2] = static_cast<char>(0x80);
    }
  }
  if (!shadow.empty()) text = shadow;

  spans.push_back({0, static_cast<uint32_t>(text.size())});
  std::vector<TextSpan> next;
  for (const auto& re : regexes_) {
    next.clear();
    next.reserve(spans.size() * 2);
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(re->code, nullptr);
    GRETA_ASSERT(md != nullptr);
    for (const TextSpan& span : spans) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + span.offset);
      const size_t len = span.length;
      size_t pos = 0;
      size_t prev = 0;
      while (pos < len) {
        const int rc = re->jit ? pcre2_jit_match(re->code, subject, len, pos, PCRE2_NO_UTF_CHECK, md, nullptr)
                               : pcre2_match(re->code, subject, len, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc < 0) break;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t s = ov[0];
        const size_t e = ov[1];
        if (e == s) {
          // An empty match produces no piece; move on by one character.
          pos = s + unicode::utf8_len(static_cast<uint8_t>(text[span.offset + s]));
          continue;
        }
        if (s > prev) next.push_back({static_cast<uint32_t>(span.offset + prev), static_cast<uint32_t>(s - prev)});
        next.push_back({static_cast<uint32_t>(span.offset + s), static_cast<uint32_t>(e - s)});
        prev = pos = e;
      }
      if (prev < len) next.push_back({static_cast<uint32_t>(span.offset + prev), static_cast<uint32_t>(len - prev)});
    }
    pcre2_match_data_free(md);
    spans.swap(next);
  }
  return spans;
}

}  // namespace greta
