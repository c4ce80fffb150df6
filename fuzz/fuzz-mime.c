/* libFuzzer target for the MIME parser: any input must parse without crash,
 * leak or stall, and the result must hold together: every line of the section
 * table is found again, its ranges lie inside the message and inside the
 * parent part's body, ENVELOPE/BODY/BODYSTRUCTURE are balanced IMAP text,
 * the search text is valid UTF-8, and parsing twice gives the same answer.
 * Part numbers derived from the input and the transfer decoders, the date
 * parser and the case folder run too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "mime/mime.h"

/* A single parenthesized list of NIL, numbers, quoted strings, literals. */
static bool imap_text_ok(const char *s)
{
	size_t len = strlen(s), i = 0;
	int depth = 0, lists = 0;
	while (i < len) {
		char c = s[i];
		if (c == '(') {
			lists += depth == 0;
			depth++;
			i++;
		} else if (c == ')') {
			if (depth-- == 0)
				return false;
			i++;
		} else if (c == ' ') {
			i++;
		} else if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				unsigned char q = (unsigned char)s[i];
				if (q == '\\')
					i++;
				else if (q == '\r' || q == '\n' || q >= 0x80)
					return false;
			}
			if (i >= len)
				return false;
			i++;
		} else if (c == '{') {
			uint64_t n = 0;
			for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
				n = n * 10 + (uint64_t)(s[i] - '0');
			if (i + 3 > len || memcmp(s + i, "}\r\n", 3) != 0 || n > len - i - 3)
				return false;
			i += 3 + n;
		} else if (c >= '0' && c <= '9') {
			while (i < len && s[i] >= '0' && s[i] <= '9')
				i++;
		} else if (len - i >= 3 && memcmp(s + i, "NIL", 3) == 0) {
			i += 3;
		} else {
			return false;
		}
		if (depth == 0 && i < len)
			return false;
	}
	return depth == 0 && lists == 1;
}

static void check_range(const struct mime_section *s, size_t len)
{
	if (s->header_off + s->header_len != s->body_off || s->body_off + s->body_len > len ||
		s->all_off != s->header_off || s->all_len != s->header_len + s->body_len)
		abort();
}

static void check_sections(const char *t, size_t len)
{
	if (strncmp(t, "v1\n0 ", 5) != 0)
		abort();
	struct mime_section s, ps;
	if (mime_section_find(t, "", false, &s) != 0 || s.all_off != 0 || s.all_len != len)
		abort();
	for (const char *l = strchr(t, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
		char part[512];
		size_t pl = strcspn(l, " ");
		if (pl >= sizeof part)
			abort();
		memcpy(part, l, pl);
		part[pl] = '\0';
		const char *key = strcmp(part, "0") == 0 ? "" : part;
		if (mime_section_find(t, key, false, &s) != 0)
			abort();
		check_range(&s, len);
		const char *dot = strrchr(part, '.');
		if (dot != NULL) {
			char parent[512];
			memcpy(parent, part, (size_t)(dot - part));
			parent[dot - part] = '\0';
			if (mime_section_find(t, parent, false, &ps) != 0)
				abort();
			if (s.all_off < ps.body_off || s.all_off + s.all_len > ps.body_off + ps.body_len)
				abort();
		}
		bool msg = l[pl + 1] == 'r' || *key == '\0';
		int r = mime_section_find(t, key, true, &s);
		if ((r == 0) != msg)
			abort();
		if (r == 0)
			check_range(&s, len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct mime_info info, again;
	mime_parse(in, size, &info);
	if (!imap_text_ok(info.envelope) || !imap_text_ok(info.body) || !imap_text_ok(info.bodystructure))
		abort();
	if (!utf8_valid(info.search_headers, strlen(info.search_headers)) ||
		!utf8_valid(info.search_body, strlen(info.search_body)) || strlen(info.search_body) > MIME_MAX_TEXT)
		abort();
	check_sections(info.sections, size);

	/* Part numbers from the input's first bytes, and the decoders over
	 * every part found. */
	char part[64];
	size_t n = 0;
	for (size_t i = 0; i < size && i < 6 && n + 4 < sizeof part; i++)
		n += (size_t)snprintf(part + n, sizeof part - n, "%s%u", i ? "." : "", data[i] % 4 + 1);
	for (size_t cut = n; cut > 0; cut--) {
		if (cut < n && part[cut] != '.')
			continue;
		char p[64];
		memcpy(p, part, cut);
		p[cut] = '\0';
		struct mime_section s;
		for (int want = 0; want < 2; want++) {
			if (mime_section_find(info.sections, p, want, &s) != 0)
				continue;
			check_range(&s, size);
			struct buf out = {0};
			(void)mime_decode_cte(s.encoding, in + s.body_off, s.body_len, &out);
			buf_free(&out);
		}
	}
	struct buf out = {0};
	for (int enc = MIME_ENC_7BIT; enc <= MIME_ENC_OTHER + 1; enc++) {
		(void)mime_decode_cte(enc, in, size, &out);
		buf_clear(&out);
	}
	mime_casefold(in, size, &out);
	buf_free(&out);
	int64_t t;
	(void)mime_parse_date(in, size < 200 ? size : 200, &t);

	/* BINARYMIME: converting twice changes nothing more; nothing converted
	 * means the bytes are copied as they are. */
	struct buf once = {0}, twice = {0};
	int converted = mime_unbinary(in, size, &once);
	size_t n1 = buf_used(&once);
	const char *p1 = n1 ? buf_head(&once) : "";
	if (converted == 0 && (n1 != size || memcmp(p1, in, n1) != 0))
		abort();
	if (mime_unbinary(p1, n1, &twice) != 0 || buf_used(&twice) != n1 ||
	    (n1 && memcmp(buf_head(&twice), p1, n1) != 0))
		abort();
	buf_free(&once);
	buf_free(&twice);

	mime_parse(in, size, &again);
	if (strcmp(info.bodystructure, again.bodystructure) != 0 || strcmp(info.sections, again.sections) != 0 ||
		strcmp(info.envelope, again.envelope) != 0 || strcmp(info.search_body, again.search_body) != 0)
		abort();
	mime_info_clear(&again);
	mime_info_clear(&info);
	return 0;
}
