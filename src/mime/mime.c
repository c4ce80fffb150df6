/* Placeholder until the MIME parser lands: renders a message as one
 * text/plain part. Replaced by the real parser. */
#include "mime/mime.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

int mime_parse(const char *data, size_t len, struct mime_info *info)
{
	(void)data;
	(void)len;
	memset(info, 0, sizeof *info);
	info->envelope = xstrdup("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	info->body = xstrdup("(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
	info->bodystructure = xstrdup(info->body);
	info->sections = xstrdup("");
	info->search_headers = xstrdup("");
	info->search_body = xstrdup("");
	return 0;
}

void mime_info_clear(struct mime_info *info)
{
	free(info->envelope);
	free(info->body);
	free(info->bodystructure);
	free(info->sections);
	free(info->search_headers);
	free(info->search_body);
	memset(info, 0, sizeof *info);
}

int mime_section_find(const char *table, const char *part, bool want_message, struct mime_section *r)
{
	(void)table; (void)part; (void)want_message;
	memset(r, 0, sizeof *r);
	return -1;
}

int mime_decode_cte(int encoding, const char *data, size_t len, struct buf *out)
{
	(void)encoding;
	buf_append(out, data, len);
	return 0;
}

void mime_casefold(const char *s, size_t len, struct buf *out) { buf_append(out, s, len); }

int mime_parse_date(const char *s, size_t len, int64_t *t_r)
{
	(void)s; (void)len;
	*t_r = 0;
	return -1;
}
