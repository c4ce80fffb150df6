/* libFuzzer target for the configuration file parser: any bytes either load or
 * give one "NAME:LINE: reason" error, never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = config_new();
	char *err = NULL;
	if (config_load_string(cfg, "fuzz.conf", (const char *)data, size, &err) < 0) {
		if (err == NULL)
			__builtin_trap();
		free(err);
	}
	config_free(cfg);
	return 0;
}
