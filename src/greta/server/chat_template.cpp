#include "greta/server/chat_template.h"

#include <array>
#include <utility>

namespace greta::server {
namespace {

constexpr std::array<std::pair<ChatFamily, const char*>, 8> kNames = {{
    {ChatFamily::Llama2, "llama2"},
    {ChatFamily::Llama3, "llama3"},
    {ChatFamily::ChatML, "chatml"},
    {ChatFamily::Mistral, "mistral"},
    {ChatFamily::Gemma, "gemma"},
    {ChatFamily::Phi3, "phi3"},
    {ChatFamily::Zephyr, "zephyr"},
    {ChatFamily::DeepSeek, "deepseek"},
}};

std::string trim(const std::string& s) {
  const char* ws = " \t\n\r";
  const size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return {};
  const size_t b = s.find_last_not_of(ws);
  return s.substr(a, b - a + 1);
}

// System messages joined, for formats that have no system turn of their own.
std::string system_text(const std::vector<ChatMessage>& messages) {
  std::string sys;
  for (const ChatMessage& m : messages) {
    if (m.role != "system") continue;
    if (!sys.empty()) sys += "\n\n";
    sys += m.content;
  }
  return sys;
}

// Formats with a header per turn: open(role) + content + close, then open("assistant").
template <typename Open>
std::string per_turn(const std::vector<ChatMessage>& messages, Open open, const std::string& close, bool trim_content) {
  std::string out;
  for (const ChatMessage& m : messages) out += open(m.role) + (trim_content ? trim(m.content) : m.content) + close;
  return out + open("assistant");
}

// [INST] formats: the system text goes into the first user turn.
std::string inst_format(const std::vector<ChatMessage>& messages, const ChatTokens& t, bool llama2) {
  const std::string sys = system_text(messages);
  std::string out;
  bool first_user = true;
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      std::string content = llama2 ? trim(m.content) : m.content;
      if (first_user && !sys.empty()) {
        content = llama2 ? "<<SYS>>\n" + trim(sys) + "\n<</SYS>>\n\n" + content : sys + "\n\n" + content;
      }
      out += "[INST] " + content + " [/INST]";
      first_user = false;
    } else if (m.role == "assistant") {
      out += llama2 ? " " + trim(m.content) + " " + t.eos + t.bos : m.content + t.eos;
    }
  }
  return out;
}

}  // namespace

const char* chat_family_name(ChatFamily f) {
  for (const auto& [family, name] : kNames) {
    if (family == f) return name;
  }
  return "?";
}

std::optional<ChatFamily> chat_family_from_name(std::string_view name) {
  for (const auto& [family, n] : kNames) {
    if (name == n) return family;
  }
  return std::nullopt;
}

std::vector<std::string> chat_family_names() {
  std::vector<std::string> names;
  for (const auto& entry : kNames) names.emplace_back(entry.second);
  return names;
}

std::optional<ChatFamily> chat_family_detect(std::string_view t) {
  const auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has("<|im_start|>")) return ChatFamily::ChatML;
  if (has("<|start_header_id|>") && has("<|end_header_id|>")) return ChatFamily::Llama3;
  if (has("<start_of_turn>")) return ChatFamily::Gemma;
  if (has("<|assistant|>") && has("<|end|>")) return ChatFamily::Phi3;
  if (has("<|user|>") && has("<|assistant|>")) return ChatFamily::Zephyr;
  if (has("<\xEF\xBD\x9C" "User\xEF\xBD\x9C>") && has("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>")) return ChatFamily::DeepSeek;
  if (has("[INST]")) return has("<<SYS>>") ? ChatFamily::Llama2 : ChatFamily::Mistral;
  return std::nullopt;
}

std::string chat_render(ChatFamily f, const std::vector<ChatMessage>& messages, const ChatTokens& t) {
  switch (f) {
    case ChatFamily::ChatML:
      return per_turn(messages, [](const std::string& r) { return "<|im_start|>" + r + "\n"; }, "<|im_end|>\n", false);
    case ChatFamily::Llama3:
      return per_turn(messages, [](const std::string& r) { return "<|start_header_id|>" + r + "<|end_header_id|>\n\n"; },
                      "<|eot_id|>", true);
    case ChatFamily::Phi3:
      return per_turn(messages, [](const std::string& r) { return "<|" + r + "|>\n"; }, "<|end|>\n", false);
    case ChatFamily::Zephyr:
      return per_turn(messages, [](const std::string& r) { return "<|" + r + "|>\n"; }, t.eos + "\n", false);
    case ChatFamily::Gemma: {
      // No system turn: the system text opens the first user turn; the assistant is "model".
      const std::string sys = system_text(messages);
      std::string out;
      bool first_user = true;
      for (const ChatMessage& m : messages) {
        if (m.role == "system") continue;
        std::string content = trim(m.content);
        if (m.role == "user" && first_user && !sys.empty()) content = trim(sys) + "\n\n" + content;
        if (m.role == "user") first_user = false;
        out += "<start_of_turn>" + std::string(m.role == "assistant" ? "model" : "user") + "\n" + content + "<end_of_turn>\n";
      }
      return out + "<start_of_turn>model\n";
    }
    case ChatFamily::DeepSeek: {
      const std::string user = "<\xEF\xBD\x9C" "User\xEF\xBD\x9C>";
      const std::string assistant = "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>";
      const std::string end = "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>";
      std::string out = system_text(messages);
      for (const ChatMessage& m : messages) {
        if (m.role == "user") out += user + m.content;
        if (m.role == "assistant") out += assistant + m.content + end;
      }
      return out + assistant;
    }
    case ChatFamily::Llama2:
      return inst_format(messages, t, true);
    case ChatFamily::Mistral:
      return inst_format(messages, t, false);
  }
  return {};
}

}  // namespace greta::server
