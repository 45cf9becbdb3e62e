// Chat templates: each family renders one conversation to the exact expected string, and each is
// recognised from (an excerpt of) the template text its models ship.
#include <gtest/gtest.h>

#include "greta/server/chat_template.h"

namespace greta::server {
namespace {

const std::vector<ChatMessage> kChat = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
};
const ChatTokens kTokens{"<s>", "</s>"};

struct Case {
  ChatFamily family;
  const char* template_excerpt;  // from the family's tokenizer.chat_template
  const char* expected;
};

const Case kCases[] = {
    {ChatFamily::Llama2,
     "{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + messages[0]['content'] | trim + "
     "'\\n<</SYS>>\\n\\n' %}{% endif %}{{ bos_token + '[INST] ' + content | trim + ' [/INST]' }}",
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST]"},
    {ChatFamily::Llama3,
     "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
     "'<|eot_id|>' %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}",
     "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {ChatFamily::ChatML,
     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
     "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
     "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n"},
    {ChatFamily::Mistral,
     "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + "
     "' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}",
     "[INST] You are a helpful assistant\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]"},
    {ChatFamily::Gemma,
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
     "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}",
     "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n"
     "<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n"},
    {ChatFamily::Phi3,
     "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}",
     "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n"
     "<|user|>\nWho are you<|end|>\n<|assistant|>\n"},
    {ChatFamily::Zephyr,
     "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + "
     "eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}",
     "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n"
     "<|user|>\nWho are you</s>\n<|assistant|>\n"},
    {ChatFamily::DeepSeek,
     "{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}"
     "{{'<\xEF\xBD\x9CUser\xEF\xBD\x9C>' + message['content']}}{%- endif %}{%- if message['role'] == 'assistant' %}"
     "{{'<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>' + content + '<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>'}}",
     "You are a helpful assistant<\xEF\xBD\x9CUser\xEF\xBD\x9C>Hello<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>Hi there"
     "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C><\xEF\xBD\x9CUser\xEF\xBD\x9C>Who are you"
     "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>"},
};

TEST(ChatTemplate, EachFamilyRendersTheExpectedString) {
  for (const Case& c : kCases) {
    EXPECT_EQ(chat_render(c.family, kChat, kTokens), c.expected) << chat_family_name(c.family);
  }
}

TEST(ChatTemplate, EachFamilyIsRecognisedFromItsTemplate) {
  for (const Case& c : kCases) {
    const auto f = chat_family_detect(c.template_excerpt);
    ASSERT_TRUE(f.has_value()) << chat_family_name(c.family);
    EXPECT_EQ(*f, c.family) << chat_family_name(c.family);
  }
  EXPECT_FALSE(chat_family_detect("{{ messages | tojson }}").has_value());
  EXPECT_FALSE(chat_family_detect("").has_value());
}

TEST(ChatTemplate, NamesRoundTrip) {
  EXPECT_EQ(chat_family_names().size(), 8u);
  for (const std::string& n : chat_family_names()) {
    const auto f = chat_family_from_name(n);
    ASSERT_TRUE(f.has_value()) << n;
    EXPECT_EQ(chat_family_name(*f), n);
  }
  EXPECT_FALSE(chat_family_from_name("jinja").has_value());
}

TEST(ChatTemplate, SingleUserTurnWithoutSystem) {
  const std::vector<ChatMessage> one = {{"user", "Hi"}};
  EXPECT_EQ(chat_render(ChatFamily::Llama2, one, kTokens), "[INST] Hi [/INST]");
  EXPECT_EQ(chat_render(ChatFamily::Gemma, one, kTokens), "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(chat_render(ChatFamily::ChatML, one, kTokens), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

}  // namespace
}  // namespace greta::server
