/* abi.header_hygiene: plugin.h must compile after the C library's type-generic and socket
   headers (a struct member named like a function-like macro, e.g. `log`, would not), as C99
   with -pedantic -Wpadded -Werror (gcc and clang) and as C++17. */
#include <sys/socket.h>
#include <tgmath.h>

#include <silverback/plugin.h>

/* Use the table the way plugins do, so macro clashes in member access show up too. */
int sb_hygiene_probe(const sb_host_api *api, sb_ctx *ctx);
int sb_hygiene_probe(const sb_host_api *api, sb_ctx *ctx) {
  sb_str s;
  s.ptr = "x";
  s.len = 1;
  api->log_msg(ctx, SB_LOG_INFO, s);
  return SB_HAS(api, sb_host_api, resume) && api->resume(ctx, SB_CONTINUE) == SB_OK;
}
