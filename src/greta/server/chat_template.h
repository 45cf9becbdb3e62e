#pragma once
// Chat templates, rendered natively. No C++ Jinja engine is packaged in Debian, so the template
// text in a GGUF's `tokenizer.chat_template` is only used to recognise its family (as llama.cpp's
// llm_chat_detect_template does), and each family's format is written out here. docs/SERVER.md
// shows each family's rendering of one conversation; tests/server/chat_template_test.cpp checks
// them string for string.
//
//   std::optional<ChatFamily> f = chat_family_detect(file.get_string("tokenizer.chat_template"));
//   std::string text = chat_render(*f, messages, {.bos = "<s>", .eos = "</s>"});
//   // then tokenized with the model's BOS (add_special) and special tokens parsed

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greta/server/api_request.h"

namespace greta::server {

enum class ChatFamily { Llama2, Llama3, ChatML, Mistral, Gemma, Phi3, Zephyr, DeepSeek };

// "llama2", "llama3", "chatml", "mistral", "gemma", "phi3", "zephyr", "deepseek".
const char* chat_family_name(ChatFamily f);
std::optional<ChatFamily> chat_family_from_name(std::string_view name);
std::vector<std::string> chat_family_names();
// The family a template's text belongs to; nullopt when none is recognised.
std::optional<ChatFamily> chat_family_detect(std::string_view template_text);

// The model's special-token texts that some formats write between turns.
struct ChatTokens {
  std::string bos;
  std::string eos;
};

// The conversation followed by the prompt that opens the assistant's turn. The leading BOS is
// not written: the tokenizer adds it as the model's metadata says.
std::string chat_render(ChatFamily f, const std::vector<ChatMessage>& messages, const ChatTokens& tokens);

}  // namespace greta::server
