/* What the files of the MIME parser share and nothing else sees: the part tree
 * that mime-parse.c builds and the renderers (mime-imap.c, mime-section.c,
 * mime-text.c) walk, a bump allocator that lives for one parse, and the
 * decoding helpers of mime-decode.c and mime-param.c. */
#ifndef ROOST_MIME_PRIVATE_H
#define ROOST_MIME_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mime/mime.h"

/* Parameters kept per Content-Type / Content-Disposition; more are ignored. */
#define MIME_MAX_PARAMS 64
/* Longest RFC 2047 encoded word recognised, and longest charset name. */
#define MIME_MAX_WORD 1024
#define MIME_MAX_CHARSET 64

struct mime_slice {
	const char *p;
	size_t len;
};

/* One parse's memory: blocks freed together by mime_arena_free. */
struct mime_arena {
	struct mime_arena_block *head;
};
void *mime_arena_alloc(struct mime_arena *a, size_t n);
char *mime_arena_strndup(struct mime_arena *a, const char *s, size_t n);
void mime_arena_free(struct mime_arena *a);

/* A header field: name, and the raw value after the colon up to (not
 * including) the line end of its last line, folds included. */
struct mime_field {
	struct mime_slice name, value;
};

/* Walks the header block that starts at pos. The block ends at an empty line
 * (which it includes), at the end of the data, or before the first line that is
 * neither a field ("name:" with optional blanks before the colon) nor a
 * continuation; then pos is where the body starts. With mbox set, a leading
 * "From " line is taken as part of the header and skipped. */
struct mime_hdr_iter {
	const char *d;
	size_t pos, end, start;
	bool mbox;
	bool done;
};
void mime_hdr_init(struct mime_hdr_iter *it, const char *d, size_t off, size_t end, bool mbox);
bool mime_hdr_next(struct mime_hdr_iter *it, struct mime_field *f);

/* Append v unfolded (line ends removed) with leading and trailing blanks
 * trimmed, at most max bytes. */
void mime_unfold(struct mime_slice v, size_t max, struct buf *out);

/* Content-Type / Content-Disposition parameters. name is lower-cased; an RFC
 * 2231 parameter split into sections comes back joined: "name*" with the
 * extended value (charset'language'%XX...) when any section was extended,
 * else plain "name" with the sections concatenated. */
struct mime_param {
	char *name;
	char *value;
	size_t value_len;
};
struct mime_params {
	struct mime_param *v;
	size_t n;
};
/* Parse "type/subtype *(; param)" (want_subtype) or "type *(; param)". type_r
 * and subtype_r are lower-cased, NULL when the value is malformed. */
void mime_ctype_parse(struct mime_arena *a, const char *s, size_t len, bool want_subtype, char **type_r,
	char **subtype_r, struct mime_params *params_r);
/* The decoded bytes of parameter name (plain, or RFC 2231 extended with the
 * %XX escapes undone; the charset is not applied). NULL when absent. */
const char *mime_param_get(struct mime_arena *a, const struct mime_params *ps, const char *name, size_t *len_r);

/* Decoders. Both append to out. QP never fails; base64 skips line breaks and
 * blanks and returns -1 when it met anything else (it still decodes the rest). */
void mime_qp_decode(const char *s, size_t len, struct buf *out);
int mime_base64_decode(const char *s, size_t len, struct buf *out);

/* Convert s from charset (NULL or unknown: UTF-8 when it is valid, else
 * windows-1252) to UTF-8; the result is always valid UTF-8 (bad input
 * becomes U+FFFD). */
void mime_charset_to_utf8(const char *charset, size_t cslen, const char *s, size_t len, struct buf *out);
/* Append s as valid UTF-8: kept when it is valid, else read as windows-1252. */
void mime_text_to_utf8(const char *s, size_t len, struct buf *out);
/* Decode RFC 2047 encoded words in an unfolded header value to UTF-8; the
 * text around them is taken as by mime_text_to_utf8. */
void mime_header_decode(const char *s, size_t len, struct buf *out);

/* The part tree. Every entity (the message, each part of a multipart, the
 * message inside a message/rfc822 part) is a node with a header and a body. */
enum mime_kind { MIME_LEAF, MIME_MULTI, MIME_MSG };

enum mime_fld {
	FLD_CTYPE,
	FLD_CTE,
	FLD_CID,
	FLD_CDESC,
	FLD_CDISP,
	FLD_CLANG,
	FLD_CLOC,
	FLD_CMD5,
	FLD_DATE,
	FLD_SUBJECT,
	FLD_FROM,
	FLD_SENDER,
	FLD_REPLY_TO,
	FLD_TO,
	FLD_CC,
	FLD_BCC,
	FLD_IN_REPLY_TO,
	FLD_MESSAGE_ID,
	FLD_COUNT
};

struct mime_node {
	size_t hdr_off, hdr_len, body_off, body_len;
	uint32_t lines;  /* text lines of the body: LFs, plus one for a last line without one */
	int depth;
	int parent;      /* -1 for the message */
	int first, last; /* children: the parts of a multipart, or the message of a message/rfc822 part */
	int next;
	int n_children;
	enum mime_kind kind;
	int enc;         /* MIME_ENC_* */
	bool message;    /* an RFC 5322 message: the top level or inside message/rfc822 */
	bool present[FLD_COUNT];
	struct mime_slice f[FLD_COUNT]; /* first occurrence of each field, raw */
	char *type, *subtype;           /* lower case */
	struct mime_params params;
	char *cte;                      /* lower case, NULL when absent */
};

struct mime_tree {
	const char *data;
	size_t len;
	struct mime_node *nodes;
	size_t n, cap;
	struct mime_arena arena;
};

void mime_tree_build(struct mime_tree *t, const char *data, size_t len);
void mime_tree_free(struct mime_tree *t);
/* The unfolded, trimmed value of a field of node n (at most MIME_MAX_FIELD
 * bytes), NULL when absent. */
const char *mime_node_field(struct mime_tree *t, const struct mime_node *n, enum mime_fld f, size_t *len_r);

/* Renderers. */
void mime_render_envelope(struct mime_tree *t, const struct mime_node *n, struct buf *out);
void mime_render_body(struct mime_tree *t, const struct mime_node *n, bool ext, struct buf *out);
void mime_render_sections(struct mime_tree *t, struct buf *out);
void mime_render_search(struct mime_tree *t, struct buf *headers, struct buf *body);
/* An IMAP string: quoted when every byte may be, else a literal. */
void mime_imap_string(const char *s, size_t len, struct buf *out);
void mime_imap_nstring(const char *s, size_t len, struct buf *out);

#endif
