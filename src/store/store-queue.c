/* Freeing what the outbound-queue calls of the storage API hand back; shared
 * by every backend. */
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

void store_queue_msg_clear(struct store_queue_msg *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_rcpts; i++) {
		free(m->rcpts[i].addr);
		free(m->rcpts[i].orcpt);
		free(m->rcpts[i].last_reply);
	}
	free(m->rcpts);
	free(m->sender);
	free(m->envid);
	memset(m, 0, sizeof *m);
}

void store_queue_msgs_free(struct store_queue_msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_queue_msg_clear(&m[i]);
	free(m);
}
