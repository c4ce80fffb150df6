/* Placeholder: replaced by the real command family. */
#include "imap/imap-session.h"

enum run_result imap_cmd_create(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	return imap_no(s, "Not available yet");
}

enum run_result imap_cmd_delete(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	return imap_no(s, "Not available yet");
}

enum run_result imap_cmd_rename(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	return imap_no(s, "Not available yet");
}

enum run_result imap_cmd_subscribe(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	return imap_no(s, "Not available yet");
}

enum run_result imap_cmd_unsubscribe(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	return imap_no(s, "Not available yet");
}

enum run_result imap_cmd_list(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	return imap_no(s, "Not available yet");
}

enum run_result imap_cmd_lsub(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	return imap_no(s, "Not available yet");
}

enum run_result imap_cmd_namespace(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	return imap_no(s, "Not available yet");
}

enum run_result imap_cmd_status(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	return imap_no(s, "Not available yet");
}

