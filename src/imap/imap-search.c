/* Placeholder: replaced by the real command family. */
#include "imap/imap-session.h"

enum run_result imap_cmd_search(struct imap_session *s, const struct imap_command *cmd)
{
	(void)cmd;
	return imap_no(s, "Not available yet");
}

