// Text as Go prints it, for messages and keys that must match kube-apiserver's byte for byte:
// fmt's %q (strconv.Quote), encoding/json's string and number encoding, and UTF-8 decoding as
// Go's range over a string does it. Used by the field manager (paths, conflicts) and pure.
#ifndef BERTH_CONTROLLER_KUBEAPI_GO_TEXT_H_
#define BERTH_CONTROLLER_KUBEAPI_GO_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "berth/json.h"

namespace berth::kubeapi {

// Decodes the UTF-8 rune at s[i] into *width bytes; an invalid byte is U+FFFD of width 1.
char32_t DecodeRune(std::string_view s, size_t i, size_t* width);
// unicode.IsPrint.
bool IsPrint(char32_t r);
// strconv.Quote: "%q" of a string.
std::string GoQuote(std::string_view s);
// encoding/json's encoding of a string, with its HTML escaping.
std::string GoJsonString(std::string_view s);
// encoding/json's encoding of a number.
std::string GoNumber(const Json& v);
// encoding/json.Marshal of a value: keys sorted, Go's string and number forms.
std::string GoJson(const Json& v);

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_GO_TEXT_H_
