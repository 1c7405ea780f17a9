/*
 * Several authd sidecars share one PostgreSQL, each beside its own nginx.
 * The schema's triggers announce every change to what the policy document
 * holds (keys, resource types, revocations) on the channel authd_policy;
 * each authd listens there and rewrites its own gateway's policy file, so
 * that a change made through any of them reaches every gateway within
 * about a second.
 */

#ifndef AUTHD_NOTIFY_H
#define AUTHD_NOTIFY_H


/*
 * Starts the listening thread, on a connection of its own outside the
 * pool; it reconnects by itself after PostgreSQL restarts.  0 or -1.
 */
int notify_start(void) __attribute__((warn_unused_result));

/* stops the thread and closes its connection */
void notify_stop(void);


#endif /* AUTHD_NOTIFY_H */
