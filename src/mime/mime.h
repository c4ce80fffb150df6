/* The RFC 5322 + MIME message parser, run once per message at delivery or
 * APPEND. It finds the structure (every part's header and body with byte
 * offsets and line counts) and renders what IMAP FETCH and SEARCH need later,
 * so that nothing is parsed again when a client asks:
 *   - ENVELOPE, BODY and BODYSTRUCTURE as ready-to-send IMAP text,
 *   - a compact section table (mime_section_find) that maps an IMAP section
 *     number such as "2.1" to byte ranges of the stored message,
 *   - the decoded, case-folded text of the headers and the body for SEARCH
 *     (RFC 2047/2231 words, charsets through iconv, quoted-printable, base64),
 *   - the Date: header as a unix time.
 * Input is untrusted: any byte sequence parses (malformed MIME degrades to
 * text/plain, as RFC 2045 says), in time and memory linear in its size, with
 * named limits on nesting and part count. fuzz/fuzz-mime.c holds it to that.
 *
 * The input is the stored form: CRLF line endings (a bare LF is tolerated).
 * A header ends after its empty line, or before the first line that is neither
 * a field nor a continuation line (then the body starts there, as in
 * "Subject: x" followed directly by text); a leading mbox "From " line is
 * part of the message header. */
#ifndef ROOST_MIME_H
#define ROOST_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Nesting of multiparts and message/rfc822 parts; deeper parts are treated as
 * opaque text/plain bodies. */
#define MIME_MAX_DEPTH 32
/* Parts per message; parts beyond are folded into their parent's last part. */
#define MIME_MAX_PARTS 2000
/* Bytes of one header field kept for ENVELOPE/BODYSTRUCTURE rendering. */
#define MIME_MAX_FIELD (64 * 1024)
/* Bytes of decoded body text kept for SEARCH per message. */
#define MIME_MAX_TEXT (4 * 1024 * 1024)

/* Everything the store caches for one message. All strings are allocated
 * (free with mime_info_clear) and NUL-terminated. */
struct mime_info {
	/* IMAP text, exactly what follows "ENVELOPE ", "BODY " and
	 * "BODYSTRUCTURE " in a FETCH response: parenthesized lists whose strings
	 * are NIL, quoted strings ('"' and '\\' escaped) or, when a value cannot
	 * be quoted (it holds CR, LF, NUL or 8-bit bytes), {n}CRLF literals, in
	 * which a NUL is sent as 0x80. Header values are the raw unfolded bytes,
	 * blanks around them trimmed (encoded words stay encoded, as RFC 9051
	 * requires); an absent or empty field is NIL.
	 * Casing: body type, subtype, transfer encoding, disposition type and
	 * parameter names are lower case ("text" "plain" ("charset" "UTF-8") ...);
	 * parameter values and other header text are as in the message. A text
	 * part without a charset gets ("charset" "us-ascii"), a part without a
	 * Content-Transfer-Encoding "7bit". RFC 2231 parameters are joined, not
	 * decoded: ("title*" "us-ascii'en'This%20is"). An address without a
	 * domain has host "" (NIL marks a group); a quoted local part keeps its
	 * quotes; a comment is the name of an address that has no other. */
	char *envelope;
	char *body;          /* BODY: BODYSTRUCTURE without extension data */
	char *bodystructure; /* with extension data (MD5, disposition, language, location) */
	/* The section table for mime_section_find(): text, one line per part
	 * (format in mime-section.c), opaque to callers. */
	char *sections;
	/* SEARCH text, valid UTF-8 without NUL, case-folded with
	 * mime_casefold(): one line per header field of the top-level header,
	 * "name: decoded value\n" with the name lower-cased; and the decoded text
	 * of every text/ part (HTML reduced to its text) and of message/rfc822
	 * parts' headers and text, each part ending in "\n"; at most
	 * MIME_MAX_TEXT bytes each. */
	char *search_headers;
	char *search_body;
	int64_t sent_date; /* Date: as unix time (UTC); 0 when absent or unparsable */
};

/* Parse data[0..len) and fill info. Never fails on content; returns 0. */
int mime_parse(const char *data, size_t len, struct mime_info *info);
void mime_info_clear(struct mime_info *info);

/* Byte ranges of the stored message an IMAP section refers to. */
struct mime_section {
	uint64_t header_off, header_len; /* the part's MIME header ([n.MIME]) or, for the
	                                    whole message / a message/rfc822 part, its RFC
	                                    5322 header ([HEADER], [n.HEADER]), blank line included */
	uint64_t body_off, body_len;     /* [n], [TEXT], [n.TEXT] */
	uint64_t all_off, all_len;       /* header and body together (BODY[] of the message) */
	uint32_t body_lines;
	/* Content-Transfer-Encoding of the part for BINARY: */
	enum { MIME_ENC_7BIT, MIME_ENC_8BIT, MIME_ENC_BINARY, MIME_ENC_QP, MIME_ENC_BASE64, MIME_ENC_OTHER } encoding;
	bool is_message;   /* message/rfc822 (or global): HEADER/TEXT of the part mean the embedded message's;
	                      always true for the whole message and with want_message */
	bool is_multipart; /* with want_message: whether the (embedded) message is a multipart */
};

/* Look up part "1.2.3" ("" means the whole message) in a section table.
 * For a message/rfc822 part the embedded message's header/text are returned in
 * msg_header_* / msg_body_* through a second call with want_message = true:
 *   want_message = false: header_* is the part's MIME header, body_* its body
 *   want_message = true : the part must be the whole message or a
 *                         message/rfc822 part; header_* / body_* are the
 *                         (embedded) message's RFC 5322 header and text.
 * Returns 0, or -1 when there is no such part (or want_message on a part that
 * is not a message). Per RFC 9051, part 1 of a non-multipart message is its
 * body (its MIME header is the message header), and the parts of a
 * message/rfc822 part are those of the embedded message. body_lines counts
 * LFs, plus one for a last line without one. */
int mime_section_find(const char *table, const char *part, bool want_message, struct mime_section *r);

/* Decode a part body with its transfer encoding into out (BINARY[]). Returns 0,
 * or -1 when the encoding is unknown or the data is not valid for it
 * (RFC 3516: the server answers NO [UNKNOWN-CTE]). */
int mime_decode_cte(int encoding, const char *data, size_t len, struct buf *out);

/* BINARYMIME (RFC 3030): append data to out with every part whose
 * Content-Transfer-Encoding is binary re-encoded as base64 (its header field
 * rewritten), so that CRLF normalisation cannot change its bytes; the rest is
 * copied unchanged. Returns the number of parts converted. */
int mime_unbinary(const char *data, size_t len, struct buf *out);

/* Append the case-folded form of UTF-8 text to out (used for the stored search
 * text and for SEARCH keys alike, so both fold the same way). Invalid UTF-8
 * bytes are copied as they are. */
void mime_casefold(const char *s, size_t len, struct buf *out);

/* RFC 5322 date-time (obsolete forms and common breakage tolerated) to unix
 * time UTC. Returns 0 on success, -1 when unparsable. */
int mime_parse_date(const char *s, size_t len, int64_t *t_r);

#endif
