/* APPEND (RFC 9051 6.3.12) with MULTIAPPEND (RFC 3502), UIDPLUS's APPENDUID
 * (RFC 4315), BINARY's literal8 (RFC 3516) and UTF8=ACCEPT's "UTF8 (~{n})"
 * form (RFC 6855). Every message is checked (flags, date-time, size, not
 * empty) before the first one is stored, and each is stored with
 * store_deliver(), which parses it once.
 *
 * MULTIAPPEND is all or nothing. The store delivers one message per call, so
 * the messages are delivered one by one and, when one fails, the ones already
 * appended by this command are expunged again before the NO. Another session
 * with the mailbox selected may therefore see them arrive and go (EXISTS, then
 * EXPUNGE); no session ever keeps a part of a failed command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap/imap-session.h"

#define IMAP_APPEND_MAX_MESSAGES 1000 /* messages in one MULTIAPPEND */

struct append_msg {
	const char *data;
	size_t len;
	uint32_t flags;
	const char **keywords; /* point into the command's arguments */
	size_t n_keywords;
	int64_t internal_date; /* 0: now */
};

static bool digits(const char *s, size_t n, unsigned *r)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*r = v;
	return true;
}

/* RFC 9051 date-time without its quotes: "dd-Mon-yyyy hh:mm:ss +zzzz", the
 * day as two digits or a space and one digit. Returns -1 when malformed or
 * not a real date. */
static int parse_date_time(const char *s, size_t len, int64_t *r)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned day, mon = 0, year, hh, mm, ss, zh, zm;
	if (len != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' || s[17] != ':' || s[20] != ' ' ||
	    (s[21] != '+' && s[21] != '-'))
		return -1;
	if (s[0] == ' ') {
		if (!digits(s + 1, 1, &day))
			return -1;
	} else if (!digits(s, 2, &day)) {
		return -1;
	}
	for (unsigned i = 0; i < 12; i++)
		if (mem_ieq(s + 3, 3, months[i]))
			mon = i + 1;
	if (mon == 0 || !digits(s + 7, 4, &year) || !digits(s + 12, 2, &hh) || !digits(s + 15, 2, &mm) ||
	    !digits(s + 18, 2, &ss) || !digits(s + 22, 2, &zh) || !digits(s + 24, 2, &zm))
		return -1;
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	unsigned dim = mdays[mon - 1] + (mon == 2 && leap);
	if (year == 0 || day == 0 || day > dim || hh > 23 || mm > 59 || ss > 60 || zm > 59)
		return -1;
	int64_t zone = ((int64_t)zh * 60 + zm) * 60;
	int64_t t = days_from_civil(year, mon, day) * 86400 + (int64_t)hh * 3600 + mm * 60 + ss;
	*r = s[21] == '+' ? t - zone : t + zone;
	return 0;
}

/* One append-data item at args[*i]: [flags] [date-time] (literal / "UTF8"
 * "(" literal8 ")"). Returns -1 with *error_r (BAD). */
static int parse_message(const struct imap_arg *args, size_t n, size_t *i, struct append_msg *m, const char **error_r)
{
	memset(m, 0, sizeof *m);
	size_t k = *i;
	if (k < n && args[k].type == IMAP_ARG_LIST) {
		if (imap_parse_flags(&args[k], &m->flags, &m->keywords, &m->n_keywords, error_r) < 0)
			return -1;
		k++;
	}
	if (k < n && args[k].type == IMAP_ARG_QUOTED) {
		if (parse_date_time(args[k].str, args[k].len, &m->internal_date) < 0) {
			*error_r = "Invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")";
			free(m->keywords);
			return -1;
		}
		k++;
	}
	const struct imap_arg *lit = NULL;
	if (k < n && args[k].type == IMAP_ARG_LITERAL) {
		lit = &args[k++];
	} else if (k + 1 < n && args[k].type == IMAP_ARG_ATOM && str_ieq(args[k].str, "UTF8") &&
		   args[k + 1].type == IMAP_ARG_LIST && args[k + 1].list_count == 1 &&
		   args[k + 1].list[0].type == IMAP_ARG_LITERAL && (args[k + 1].list[0].flags & IMAP_ARG_LITERAL8)) {
		lit = &args[k + 1].list[0];
		k += 2;
	}
	if (lit == NULL) {
		*error_r = k < n && args[k].type == IMAP_ARG_LIST ? "Invalid APPEND arguments"
				  : "APPEND needs the message as a literal";
		free(m->keywords);
		return -1;
	}
	m->data = lit->str;
	m->len = lit->len;
	*i = k;
	return 0;
}

static void free_messages(struct append_msg *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(msgs[i].keywords);
	free(msgs);
}

enum run_result imap_cmd_append(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args < 2)
		return imap_bad(s, "APPEND needs a mailbox name and a message");
	const char *err = NULL;
	struct append_msg *msgs = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	for (size_t i = 1; i < cmd->n_args;) {
		if (n == IMAP_APPEND_MAX_MESSAGES) {
			free_messages(msgs, n);
			return imap_no(s, "[LIMIT] At most %d messages per APPEND", IMAP_APPEND_MAX_MESSAGES);
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			msgs = xrealloc(msgs, cap * sizeof *msgs);
		}
		if (parse_message(cmd->args, cmd->n_args, &i, &msgs[n], &err) < 0) {
			free_messages(msgs, n);
			return imap_bad(s, "%s", err);
		}
		total += msgs[n].len;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		if (msgs[i].len > IMAP_APPENDLIMIT || total > IMAP_APPENDLIMIT) {
			free_messages(msgs, n);
			return imap_no(s, "[TOOBIG] The message is larger than APPENDLIMIT=%llu",
				       (unsigned long long)IMAP_APPENDLIMIT);
		}
		if (msgs[i].len == 0) {
			free_messages(msgs, n);
			return imap_no(s, "Cannot append an empty message");
		}
	}
	char *name = imap_mailbox_arg(s, &cmd->args[0], &err);
	if (name == NULL) {
		free_messages(msgs, n);
		return imap_bad(s, "%s", err);
	}
	struct store_mailbox mb = {0};
	int rc = store_mailbox_find(s->store, s->account_id, name, &mb);
	free(name);
	if (rc != STORE_OK) {
		free_messages(msgs, n);
		store_mailbox_clear(&mb);
		if (rc == STORE_NOTFOUND)
			return imap_no(s, "[TRYCREATE] No such mailbox; create it first");
		if (rc == STORE_INVALID)
			return imap_no(s, "[NONEXISTENT] No mailbox can have that name");
		return imap_store_fail(s, rc, "append");
	}
	int64_t mailbox_id = mb.id;
	uint32_t uidvalidity = mb.uidvalidity;
	store_mailbox_clear(&mb);

	uint32_t *uids = xmalloc(n * sizeof *uids);
	size_t done = 0;
	for (; done < n; done++) {
		struct store_target t = {
			.account_id = s->account_id,
			.mailbox_id = mailbox_id,
			.flags = msgs[done].flags,
			.keywords = msgs[done].keywords,
			.n_keywords = msgs[done].n_keywords,
			.internal_date = msgs[done].internal_date,
		};
		rc = store_deliver(s->store, msgs[done].data, msgs[done].len, &t, 1);
		if (rc != STORE_OK)
			break;
		uids[done] = t.uid_r;
	}
	free_messages(msgs, n);
	if (rc != STORE_OK) {
		/* All or nothing: take back what this command appended. */
		if (done > 0) {
			int erc = store_expunge(s->store, s->account_id, mailbox_id, uids, done);
			if (erc != STORE_OK)
				log_warn("sid=%s event=store_error op=append_undo mailbox_id=%lld count=%zu error=\"%s\"",
					 s->sid, (long long)mailbox_id, done, store_last_error());
		}
		free(uids);
		if (rc == STORE_NOTFOUND)
			return imap_no(s, "[TRYCREATE] No such mailbox; create it first");
		if (rc == STORE_LIMIT)
			return imap_no(s, "[LIMIT] Too many keywords in this mailbox");
		if (rc == STORE_INVALID)
			return imap_no(s, "[CANNOT] The message cannot be stored");
		return imap_store_fail(s, rc, "append");
	}
	log_info("sid=%s event=append proto=imap user=%s mailbox_id=%lld count=%zu bytes=%llu", s->sid, s->user,
		 (long long)mailbox_id, n, (unsigned long long)total);
	struct buf set = {0};
	imap_write_set(&set, uids, n);
	buf_append(&set, "", 1);
	free(uids);
	/* Appending to the selected mailbox: the view sync that precedes the
	 * tagged line reports the new message (EXISTS). */
	enum run_result r = imap_ok(s, "[APPENDUID %u %s] APPEND completed", uidvalidity, buf_head(&set));
	buf_free(&set);
	return r;
}
