/* The IMAP command parser: a byte-wise state machine that keeps its position
 * between calls, so a command may arrive in any number of pieces and the result
 * does not depend on how it was split. Every byte it keeps lives in the parser's
 * own buffers under a named limit, nesting is tracked on an explicit bounded
 * stack (no recursion while parsing), and after an error it resynchronizes on
 * the next command line, skipping the data of non-synchronizing literals. */
#include "imap/imap-parse.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

enum {
	S_START,     /* before a tag; empty lines are skipped here */
	S_START_CR,  /* CR of an empty line */
	S_TAG,
	S_NAME_START,
	S_NAME,
	S_ARG,       /* where an argument may start */
	S_AFTER,     /* just after an argument */
	S_ATOM,
	S_QUOTED,
	S_QESC,
	S_TILDE,
	S_LIT_NUM,   /* after '{' */
	S_LIT_PLUS,  /* after "{n+" */
	S_LIT_CR,    /* after '}' */
	S_LIT_LF,    /* after "}\r" */
	S_LIT_DATA,
	S_SECT_END,  /* just after a section's ']' */
	S_PARTIAL,
	S_CR,        /* CR at the end of the command line */
	S_SKIP,      /* dropping the rest of a bad command line */
	S_SKIP_DATA, /* dropping a non-synchronizing literal's data */
};

struct imap_ptok {
	enum imap_arg_type type;
	unsigned flags;
	uint32_t end; /* index just past this token's subtree */
	bool has_partial;
	size_t off, len;
	size_t poff, plen;
	uint64_t num;
};

struct imap_parser *imap_parser_new(void)
{
	struct imap_parser *p = xcalloc(1, sizeof *p);
	p->state = S_START;
	p->max_literal = IMAP_MAX_LITERAL;
	return p;
}

void imap_parser_set_max_literal(struct imap_parser *p, uint64_t max)
{
	p->max_literal = max < IMAP_MAX_LITERAL ? max : IMAP_MAX_LITERAL;
}

void imap_parser_free(struct imap_parser *p)
{
	if (p == NULL)
		return;
	buf_free(&p->text);
	free(p->toks);
	free(p->args);
	free(p->order);
	free(p);
}

/* Forget the last command; the skipping state survives. */
static void reset_command(struct imap_parser *p)
{
	p->finished = false;
	p->limit = IMAP_LIMIT_NONE;
	p->error = NULL;
	p->have_tag = p->have_name = false;
	p->line_bytes = 0;
	p->lit_total = 0;
	p->lit_size = p->lit_left = 0;
	p->lit_digits = 0;
	p->lit_flags = 0;
	p->depth = 0;
	p->n_toks = 0;
	memset(&p->cmd, 0, sizeof p->cmd);
	/* An idle connection keeps no command memory. */
	buf_free(&p->text);
	if (p->cap_toks > 64) {
		free(p->toks);
		p->toks = NULL;
		p->cap_toks = 0;
		free(p->args);
		free(p->order);
		p->args = NULL;
		p->order = NULL;
		p->cap_args = 0;
	}
}

static bool is_atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '"';
}

static bool is_tag_char(unsigned char c)
{
	return is_atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\';
}

static void text_add(struct imap_parser *p, char c)
{
	buf_append(&p->text, &c, 1);
}

/* Enter the skipping state. The byte that caused the error has not been
 * consumed: the skipper sees it, and continues any literal announcement the
 * parser was in the middle of so that "{5+}" data is never parsed as commands. */
static enum imap_parse_status fail_at(struct imap_parser *p, enum imap_parse_status st, enum imap_limit limit,
	const char *reason)
{
	p->finished = true;
	p->error = reason;
	p->limit = limit;
	p->skip_lit = 0;
	p->skip_n = 0;
	p->skip_digits = 0;
	p->skip_nonsync = false;
	switch (p->state) {
	case S_LIT_NUM:
		/* After '{' and perhaps some digits. */
		p->skip_lit = 1;
		p->skip_n = p->lit_size;
		p->skip_digits = p->lit_digits;
		break;
	case S_LIT_PLUS:
		p->skip_lit = 2;
		p->skip_n = p->lit_size;
		p->skip_digits = p->lit_digits;
		p->skip_nonsync = true;
		break;
	case S_LIT_CR:
	case S_LIT_LF:
		p->skip_lit = p->state == S_LIT_CR ? 3 : 4;
		p->skip_n = p->lit_size;
		p->skip_digits = p->lit_digits;
		p->skip_nonsync = (p->lit_flags & IMAP_ARG_NONSYNC) != 0;
		break;
	default:
		break;
	}
	p->state = S_SKIP;
	return st;
}

/* An error found once the line has ended: nothing to skip. */
static enum imap_parse_status fail_eol(struct imap_parser *p, const char *reason)
{
	p->finished = true;
	p->error = reason;
	p->state = S_START;
	return IMAP_PARSE_ERROR;
}

static struct imap_ptok *new_token(struct imap_parser *p, enum imap_arg_type type)
{
	if (p->n_toks >= IMAP_MAX_TOKENS)
		return NULL;
	if (p->n_toks == p->cap_toks) {
		size_t cap = p->cap_toks ? p->cap_toks * 2 : 16;
		if (cap > IMAP_MAX_TOKENS)
			cap = IMAP_MAX_TOKENS;
		p->toks = xrealloc(p->toks, cap * sizeof *p->toks);
		p->cap_toks = cap;
	}
	struct imap_ptok *t = &p->toks[p->n_toks];
	memset(t, 0, sizeof *t);
	t->type = type;
	t->off = p->text.len;
	p->n_toks++;
	t->end = (uint32_t)p->n_toks;
	return t;
}

static struct imap_ptok *last_token(struct imap_parser *p)
{
	return &p->toks[p->n_toks - 1];
}

static bool top_is(const struct imap_parser *p, enum imap_arg_type type)
{
	return p->depth > 0 && p->toks[p->open[p->depth - 1]].type == type;
}

static void close_frame(struct imap_parser *p)
{
	p->toks[p->open[p->depth - 1]].end = (uint32_t)p->n_toks;
	p->depth--;
}

/* Terminate the text of the last token. */
static void finish_text(struct imap_parser *p)
{
	struct imap_ptok *t = last_token(p);
	t->len = p->text.len - t->off;
	text_add(p, '\0');
}

static void finish_atom(struct imap_parser *p)
{
	finish_text(p);
	struct imap_ptok *t = last_token(p);
	const char *s = p->text.data + t->off;
	if (parse_uint(s, t->len, UINT64_MAX, &t->num))
		t->type = IMAP_ARG_NUMBER;
	else if (t->len == 3 && mem_ieq(s, 3, "NIL"))
		t->type = IMAP_ARG_NIL;
}

/* Lay the preorder token array out as a tree whose lists have contiguous
 * members, breadth first, without recursion. */
static void build_command(struct imap_parser *p)
{
	size_t n = p->n_toks;
	if (n > p->cap_args) {
		p->args = xrealloc(p->args, n * sizeof *p->args);
		p->order = xrealloc(p->order, n * sizeof *p->order);
		p->cap_args = n;
	}
	size_t w = 0;
	for (size_t i = 0; i < n; i = p->toks[i].end)
		p->order[w++] = (uint32_t)i;
	p->cmd.n_args = w;
	for (size_t r = 0; r < w; r++) {
		const struct imap_ptok *t = &p->toks[p->order[r]];
		struct imap_arg *a = &p->args[r];
		memset(a, 0, sizeof *a);
		a->type = t->type;
		a->flags = t->flags;
		a->num = t->num;
		if (t->type != IMAP_ARG_LIST) {
			a->str = p->text.data + t->off;
			a->len = t->len;
		}
		if (t->has_partial) {
			a->partial = p->text.data + t->poff;
			a->partial_len = t->plen;
		}
		if (t->type == IMAP_ARG_LIST || t->type == IMAP_ARG_SECTION) {
			a->list = p->args + w;
			for (size_t j = p->order[r] + 1; j < t->end; j = p->toks[j].end) {
				p->order[w++] = (uint32_t)j;
				a->list_count++;
			}
		}
	}
	p->cmd.tag = p->text.data + p->tag_off;
	p->cmd.name = p->text.data + p->name_off;
	p->cmd.args = n ? p->args : NULL;
}

static enum imap_parse_status end_line(struct imap_parser *p)
{
	if (p->depth > 0)
		return fail_eol(p, top_is(p, IMAP_ARG_LIST) ? "Unbalanced parentheses" : "Unbalanced brackets");
	build_command(p);
	p->finished = true;
	p->state = S_START;
	return IMAP_PARSE_DONE;
}

static enum imap_parse_status open_frame(struct imap_parser *p)
{
	if (p->depth >= IMAP_MAX_DEPTH)
		return fail_at(p, IMAP_PARSE_TOOLONG, IMAP_LIMIT_DEPTH, "Too deeply nested");
	p->open[p->depth++] = (uint32_t)(p->n_toks - 1);
	p->state = S_ARG;
	return IMAP_PARSE_MORE;
}

/* ')' or ']' where an argument may start or has just ended; -1 when the byte
 * closes nothing. */
static int close_char(struct imap_parser *p, char c)
{
	if (c == ')' && top_is(p, IMAP_ARG_LIST)) {
		close_frame(p);
		p->state = S_AFTER;
		return 1;
	}
	if (c == ']' && top_is(p, IMAP_ARG_SECTION)) {
		p->sect_tok = p->open[p->depth - 1];
		close_frame(p);
		p->state = S_SECT_END;
		return 1;
	}
	return -1;
}

/* The skipper: drop bytes up to the end of the line, noticing a literal
 * announcement at its end. Returns the number of bytes used. */
static size_t skip(struct imap_parser *p, const char *in, size_t len)
{
	size_t i = 0;
	while (i < len) {
		if (p->state == S_SKIP_DATA) {
			size_t n = len - i;
			if (n > p->skip_bytes)
				n = (size_t)p->skip_bytes;
			i += n;
			p->skip_bytes -= n;
			if (p->skip_bytes == 0)
				p->state = S_SKIP;
			continue;
		}
		if (p->state != S_SKIP)
			break;
		char c = in[i++];
		if (c == '\n') {
			if (p->skip_lit >= 3 && p->skip_nonsync) {
				p->skip_bytes = p->skip_n;
				p->state = p->skip_n ? S_SKIP_DATA : S_SKIP;
			} else {
				p->state = S_START;
			}
			p->skip_lit = 0;
			continue;
		}
		if (p->skip_lit == 1 && c >= '0' && c <= '9') {
			unsigned d = (unsigned)(c - '0');
			p->skip_n = p->skip_n > (UINT64_MAX - d) / 10 ? UINT64_MAX : p->skip_n * 10 + d;
			p->skip_digits++;
		} else if (p->skip_lit == 1 && c == '+' && p->skip_digits > 0) {
			p->skip_lit = 2;
			p->skip_nonsync = true;
		} else if ((p->skip_lit == 1 || p->skip_lit == 2) && c == '}' && p->skip_digits > 0) {
			p->skip_lit = 3;
		} else if (p->skip_lit == 3 && c == '\r') {
			p->skip_lit = 4;
		} else if (c == '{') {
			p->skip_lit = 1;
			p->skip_n = 0;
			p->skip_digits = 0;
			p->skip_nonsync = false;
		} else {
			p->skip_lit = 0;
		}
	}
	return i;
}

/* One byte of command text. Returns MORE to go on; any other status ends the
 * feed. *used is set to whether the byte was consumed. */
static enum imap_parse_status step(struct imap_parser *p, char c, bool *used)
{
	unsigned char u = (unsigned char)c;
	*used = true;
	if (c != '\r' && c != '\n' && p->state != S_START && ++p->line_bytes > IMAP_MAX_LINE) {
		*used = false;
		return fail_at(p, IMAP_PARSE_TOOLONG, IMAP_LIMIT_LINE, "Command line too long");
	}
again:
	switch (p->state) {
	case S_START:
		if (c == '\n')
			return IMAP_PARSE_MORE;
		if (c == '\r') {
			p->state = S_START_CR;
			return IMAP_PARSE_MORE;
		}
		p->line_bytes = 1;
		if (!is_tag_char(u)) {
			*used = false;
			return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, c == ' ' ? "Missing tag" : "Invalid tag");
		}
		p->tag_off = p->text.len;
		text_add(p, c);
		p->state = S_TAG;
		return IMAP_PARSE_MORE;
	case S_START_CR:
		if (c == '\n') {
			p->state = S_START;
			return IMAP_PARSE_MORE;
		}
		*used = false;
		return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "CR not followed by LF");
	case S_TAG:
		if (c == ' ') {
			text_add(p, '\0');
			p->have_tag = true;
			p->state = S_NAME_START;
			return IMAP_PARSE_MORE;
		}
		if (c == '\r' || c == '\n') {
			text_add(p, '\0');
			p->have_tag = true;
			*used = false;
			return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Missing command");
		}
		if (!is_tag_char(u)) {
			*used = false;
			return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Invalid tag");
		}
		if (p->text.len - p->tag_off >= IMAP_MAX_TAG) {
			*used = false;
			return fail_at(p, IMAP_PARSE_TOOLONG, IMAP_LIMIT_TAG, "Tag too long");
		}
		text_add(p, c);
		return IMAP_PARSE_MORE;
	case S_NAME_START:
		if (!is_atom_char(u) || c == '[' || c == ']') {
			*used = false;
			return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Missing command");
		}
		p->name_off = p->text.len;
		p->state = S_NAME;
		goto again;
	case S_NAME:
		if (c == ' ' || c == '\r' || c == '\n') {
			text_add(p, '\0');
			p->have_name = true;
			if (c == ' ')
				p->state = S_ARG;
			else if (c == '\r')
				p->state = S_CR;
			else
				return end_line(p);
			return IMAP_PARSE_MORE;
		}
		if (!is_atom_char(u) || c == '[' || c == ']') {
			*used = false;
			return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Invalid command name");
		}
		text_add(p, (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
		return IMAP_PARSE_MORE;
	case S_ARG:
		if (c == '(' || c == '"' || c == '{') {
			if (new_token(p, c == '(' ? IMAP_ARG_LIST : c == '"' ? IMAP_ARG_QUOTED : IMAP_ARG_LITERAL) == NULL) {
				*used = false;
				return fail_at(p, IMAP_PARSE_TOOLONG, IMAP_LIMIT_TOKENS, "Too many arguments");
			}
			if (c == '(')
				return open_frame(p);
			if (c == '"') {
				p->state = S_QUOTED;
			} else {
				p->lit_flags = 0;
				p->lit_size = 0;
				p->lit_digits = 0;
				p->state = S_LIT_NUM;
			}
			return IMAP_PARSE_MORE;
		}
		if (c == ')' || c == ']') {
			if (close_char(p, c) > 0)
				return IMAP_PARSE_MORE;
			if (c == ')') {
				*used = false;
				return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Unexpected )");
			}
		}
		if (c == '\r') {
			p->state = S_CR;
			return IMAP_PARSE_MORE;
		}
		if (c == '\n')
			return end_line(p);
		if (c == '~') {
			p->state = S_TILDE;
			return IMAP_PARSE_MORE;
		}
		if (!is_atom_char(u)) {
			*used = false;
			return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE,
				c == ' ' ? "Unexpected space" : "Invalid character");
		}
		if (new_token(p, IMAP_ARG_ATOM) == NULL) {
			*used = false;
			return fail_at(p, IMAP_PARSE_TOOLONG, IMAP_LIMIT_TOKENS, "Too many arguments");
		}
		p->state = S_ATOM;
		goto again;
	case S_AFTER:
		if (c == ' ') {
			p->state = S_ARG;
			return IMAP_PARSE_MORE;
		}
		if ((c == ')' || c == ']') && close_char(p, c) > 0)
			return IMAP_PARSE_MORE;
		if (c == '\r') {
			p->state = S_CR;
			return IMAP_PARSE_MORE;
		}
		if (c == '\n')
			return end_line(p);
		*used = false;
		return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE,
			c == ')' ? "Unexpected )" : "Missing space between arguments");
	case S_ATOM:
		if (c == '[') {
			finish_text(p);
			last_token(p)->type = IMAP_ARG_SECTION;
			return open_frame(p);
		}
		if (c == ']' && top_is(p, IMAP_ARG_SECTION)) {
			finish_atom(p);
			close_char(p, c);
			return IMAP_PARSE_MORE;
		}
		if (is_atom_char(u)) {
			text_add(p, c);
			return IMAP_PARSE_MORE;
		}
		if (c == ' ' || c == ')' || c == '\r' || c == '\n') {
			finish_atom(p);
			p->state = S_AFTER;
			goto again;
		}
		*used = false;
		return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Invalid character in atom");
	case S_TILDE:
		if (c == '{') {
			if (new_token(p, IMAP_ARG_LITERAL) == NULL) {
				*used = false;
				return fail_at(p, IMAP_PARSE_TOOLONG, IMAP_LIMIT_TOKENS, "Too many arguments");
			}
			p->lit_flags = IMAP_ARG_LITERAL8;
			p->lit_size = 0;
			p->lit_digits = 0;
			p->state = S_LIT_NUM;
			return IMAP_PARSE_MORE;
		}
		/* An atom that starts with '~'. */
		if (new_token(p, IMAP_ARG_ATOM) == NULL) {
			*used = false;
			return fail_at(p, IMAP_PARSE_TOOLONG, IMAP_LIMIT_TOKENS, "Too many arguments");
		}
		text_add(p, '~');
		p->state = S_ATOM;
		goto again;
	case S_QUOTED:
		if (c == '"') {
			struct imap_ptok *t = last_token(p);
			if (!utf8_valid(p->text.data + t->off, p->text.len - t->off)) {
				*used = false;
				return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Invalid UTF-8 in quoted string");
			}
			finish_text(p);
			p->state = S_AFTER;
			return IMAP_PARSE_MORE;
		}
		if (c == '\\') {
			p->state = S_QESC;
			return IMAP_PARSE_MORE;
		}
		if (c == '\r' || c == '\n' || c == '\0') {
			*used = false;
			return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE,
				c == '\0' ? "NUL in quoted string" : "Unterminated quoted string");
		}
		text_add(p, c);
		return IMAP_PARSE_MORE;
	case S_QESC:
		if (c != '\\' && c != '"') {
			*used = false;
			return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Invalid escape in quoted string");
		}
		text_add(p, c);
		p->state = S_QUOTED;
		return IMAP_PARSE_MORE;
	case S_LIT_NUM:
		if (c >= '0' && c <= '9') {
			unsigned d = (unsigned)(c - '0');
			if (p->lit_size > (UINT64_MAX - d) / 10) {
				*used = false;
				return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Invalid literal size");
			}
			p->lit_size = p->lit_size * 10 + d;
			p->lit_digits++;
			return IMAP_PARSE_MORE;
		}
		if (p->lit_digits > 0 && c == '+') {
			p->lit_flags |= IMAP_ARG_NONSYNC;
			p->state = S_LIT_PLUS;
			return IMAP_PARSE_MORE;
		}
		if (p->lit_digits > 0 && c == '}')
			goto announced;
		*used = false;
		return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Invalid literal size");
	case S_LIT_PLUS:
		if (c == '}')
			goto announced;
		*used = false;
		return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Invalid literal size");
	announced:
		p->state = S_LIT_CR;
		if (p->lit_total > p->max_literal || p->lit_size > p->max_literal - p->lit_total) {
			/* The '}' is consumed: the skipper continues from "}". */
			return fail_at(p, IMAP_PARSE_TOOLONG, IMAP_LIMIT_LITERAL, "Literal too large");
		}
		return IMAP_PARSE_MORE;
	case S_LIT_CR:
		if (c == '\r') {
			p->state = S_LIT_LF;
			return IMAP_PARSE_MORE;
		}
		if (c == '\n')
			goto literal_begins;
		*used = false;
		return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Expected CRLF after literal size");
	case S_LIT_LF:
		if (c == '\n')
			goto literal_begins;
		*used = false;
		return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Expected CRLF after literal size");
	literal_begins: {
		struct imap_ptok *t = last_token(p);
		t->flags = p->lit_flags;
		t->num = p->lit_size;
		t->off = p->text.len;
		p->lit_left = p->lit_size;
		p->lit_total += p->lit_size;
		if (p->lit_size == 0) {
			finish_text(p);
			p->state = S_AFTER;
		} else {
			p->state = S_LIT_DATA;
		}
		return (p->lit_flags & IMAP_ARG_NONSYNC) ? IMAP_PARSE_MORE : IMAP_PARSE_LITERAL_WAIT;
	}
	case S_SECT_END:
		if (c == '<') {
			struct imap_ptok *t = &p->toks[p->sect_tok];
			t->has_partial = true;
			t->poff = p->text.len;
			p->state = S_PARTIAL;
			return IMAP_PARSE_MORE;
		}
		p->state = S_AFTER;
		goto again;
	case S_PARTIAL: {
		if ((c >= '0' && c <= '9') || c == '.') {
			text_add(p, c);
			return IMAP_PARSE_MORE;
		}
		struct imap_ptok *t = &p->toks[p->sect_tok];
		if (c == '>' && p->text.len > t->poff) {
			t->plen = p->text.len - t->poff;
			text_add(p, '\0');
			p->state = S_AFTER;
			return IMAP_PARSE_MORE;
		}
		*used = false;
		return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Invalid partial range");
	}
	case S_CR:
		if (c == '\n')
			return end_line(p);
		*used = false;
		return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "CR not followed by LF");
	default:
		break;
	}
	*used = false;
	return fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "Internal parser error");
}

enum imap_parse_status imap_parse_feed(struct imap_parser *p, const char *in, size_t len, size_t *consumed_r)
{
	if (p->finished)
		reset_command(p);
	size_t i = 0;
	enum imap_parse_status st = IMAP_PARSE_MORE;
	while (i < len) {
		if (p->state == S_SKIP || p->state == S_SKIP_DATA) {
			i += skip(p, in + i, len - i);
			continue;
		}
		if (p->state == S_LIT_DATA) {
			size_t n = len - i;
			if (n > p->lit_left)
				n = (size_t)p->lit_left;
			if (!(p->lit_flags & IMAP_ARG_LITERAL8)) {
				const char *nul = memchr(in + i, '\0', n);
				if (nul != NULL) {
					size_t k = (size_t)(nul - (in + i)) + 1;
					i += k;
					p->lit_left -= k;
					st = fail_at(p, IMAP_PARSE_ERROR, IMAP_LIMIT_NONE, "NUL in literal (use literal8)");
					p->skip_bytes = p->lit_left;
					p->state = p->lit_left ? S_SKIP_DATA : S_SKIP;
					break;
				}
			}
			buf_append(&p->text, in + i, n);
			i += n;
			p->lit_left -= n;
			if (p->lit_left == 0) {
				finish_text(p);
				p->state = S_AFTER;
			}
			continue;
		}
		bool used;
		st = step(p, in[i], &used);
		if (used)
			i++;
		if (st != IMAP_PARSE_MORE)
			break;
	}
	*consumed_r = i;
	return st;
}

const struct imap_command *imap_parse_command(struct imap_parser *p)
{
	return p->finished && p->error == NULL ? &p->cmd : NULL;
}

const char *imap_parse_tag(const struct imap_parser *p)
{
	return p->have_tag ? p->text.data + p->tag_off : NULL;
}

const char *imap_parse_error(const struct imap_parser *p)
{
	return p->error;
}

enum imap_limit imap_parse_limit(const struct imap_parser *p)
{
	return p->limit;
}

uint64_t imap_parse_literal_size(const struct imap_parser *p)
{
	if (p->state == S_LIT_DATA || p->limit == IMAP_LIMIT_LITERAL || p->state == S_LIT_CR || p->state == S_LIT_LF)
		return p->lit_size;
	if (p->n_toks > 0 && p->state == S_AFTER && p->toks[p->n_toks - 1].type == IMAP_ARG_LITERAL)
		return p->lit_size; /* a {0} literal, already complete */
	return 0;
}

bool imap_command_is(const struct imap_command *cmd, const char *name)
{
	return cmd != NULL && cmd->name != NULL && str_ieq(cmd->name, name);
}

bool imap_arg_uint32(const struct imap_arg *a, uint32_t *r)
{
	if (a->type != IMAP_ARG_NUMBER || a->num > UINT32_MAX)
		return false;
	*r = (uint32_t)a->num;
	return true;
}

static void dump_string(const char *s, size_t len, struct buf *out)
{
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			buf_printf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(out, "\\x%02x", c);
		else
			buf_append(out, &s[i], 1);
	}
	buf_append(out, "\"", 1);
}

void imap_args_dump(const struct imap_arg *args, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *a = &args[i];
		if (i > 0)
			buf_append(out, " ", 1);
		switch (a->type) {
		case IMAP_ARG_ATOM:
		case IMAP_ARG_NUMBER:
		case IMAP_ARG_NIL:
			buf_append(out, a->str, a->len);
			break;
		case IMAP_ARG_QUOTED:
			dump_string(a->str, a->len, out);
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(out, "%s{%zu%s}", (a->flags & IMAP_ARG_LITERAL8) ? "~" : "", a->len,
				(a->flags & IMAP_ARG_NONSYNC) ? "+" : "");
			dump_string(a->str, a->len, out);
			break;
		case IMAP_ARG_LIST:
			buf_append(out, "(", 1);
			imap_args_dump(a->list, a->list_count, out); /* depth <= IMAP_MAX_DEPTH */
			buf_append(out, ")", 1);
			break;
		case IMAP_ARG_SECTION:
			buf_append(out, a->str, a->len);
			buf_append(out, "[", 1);
			imap_args_dump(a->list, a->list_count, out);
			buf_append(out, "]", 1);
			if (a->partial != NULL)
				buf_printf(out, "<%.*s>", (int)a->partial_len, a->partial);
			break;
		}
	}
}
