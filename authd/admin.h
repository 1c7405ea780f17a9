/*
 * authd's admin side: the JSON REST API under /admin/v1 on the admin
 * listener, and the create-admin and load subcommands.
 *
 * Every change follows the same path, whether it comes from the API or
 * from `authd load`: the input is validated in full first (an error names
 * the field), then the change and its audit_log row are made in one
 * transaction, and after the commit the policy document is rewritten when
 * the change concerns it (resource types, keys, revocations).  The store
 * functions below do the validation and the statements; their callers own
 * the transaction and the policy rewrite.
 *
 * admin.c       routes, authentication, errors, shared validation, audit
 * admin_types.c resource types
 * admin_apps.c  applications
 * admin_users.c users and their crosswalk
 * admin_grants.c grants, the audit log, keys and the policy document
 * admin_cmd.c   `authd create-admin` and `authd load`
 */

#ifndef AUTHD_ADMIN_H
#define AUTHD_ADMIN_H

#include <stddef.h>

#include <jansson.h>

#include "commands.h"
#include "db.h"
#include "http.h"


#define ADMIN_MUST_CHECK         __attribute__((warn_unused_result))

#define ADMIN_PASSWORD_MIN_ADMIN 12     /* characters */
#define ADMIN_PASSWORD_MIN_USER  8
#define ADMIN_CLIENT_SECRET_MIN  16     /* bytes, for `authd load` */
#define ADMIN_AUDIT_LIMIT        100
#define ADMIN_AUDIT_LIMIT_MAX    1000


/* why a request or an entry was refused, for the client or the operator */
typedef struct {
    unsigned     status;                /* 400, 404, 409 or 500 */
    char         field[192];            /* "" when no field is to blame */
    char         message[640];
} admin_err_t;


/* who makes a change, for the audit log */
typedef struct {
    const char  *actor;                 /* "admin:<id>" or "cli" */
    const char  *req_id;                /* NULL outside a request */
} admin_actor_t;


/* an API request once authenticated */
typedef struct {
    http_req_t  *http;
    db_conn_t   *db;
    const char  *arg;                   /* the {} segment of the path */
    long long    admin_id;
    char         actor[32];
    unsigned     status;                /* the reply, set by the handler */
    json_t      *body;                  /* NULL with 204 */
    char         location[128];         /* for 201 */
    unsigned     policy_changed:1;      /* rewrite it after the reply */
} admin_req_t;


/* a handler returns 0 having set status and body, or -1 with err */
typedef int (*admin_handler_t)(admin_req_t *ar, admin_err_t *err);


/*
 * The fields an object may hold, for admin_check_fields().  Each field is
 * allowed and perhaps required in some of the modes: a creation through
 * the API, an update through the API, an entry of `authd load`.
 */
#define ADMIN_CREATE             0x01
#define ADMIN_UPDATE             0x02
#define ADMIN_LOAD               0x04
#define ADMIN_CROSSWALK          0x08   /* a crosswalk entry of load */

typedef enum {
    ADMIN_T_STRING,
    ADMIN_T_BOOL,
    ADMIN_T_STRINGS,                    /* an array of strings */
    ADMIN_T_OBJECT
} admin_type_t;

typedef struct {
    const char    *name;
    admin_type_t   type;
    unsigned       allowed;             /* ADMIN_CREATE | ... */
    unsigned       required;
    unsigned       nullable;            /* null is accepted in these */
} admin_field_t;


/* admin.c */

/* fills err and returns -1 */
int admin_fail(admin_err_t *err, unsigned status, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* a database failure: 500 (the db layer logged it) */
int admin_fail_db(admin_err_t *err);

/*
 * The body is an object whose members are all in fields (for mode), each
 * of its type, and holds every field required in mode.
 */
int admin_check_fields(json_t *body, const admin_field_t *fields,
    unsigned mode, admin_err_t *err) ADMIN_MUST_CHECK;

/*
 * The query string holds only parameters of names (NULL-terminated),
 * each once.
 */
int admin_check_query(admin_req_t *ar, const char *const *names,
    admin_err_t *err) ADMIN_MUST_CHECK;

/*
 * A string of 1 (0 with allow_empty) to max bytes without a control
 * character.
 */
int admin_check_text(const char *field, const char *s, size_t max,
    int allow_empty, admin_err_t *err) ADMIN_MUST_CHECK;

/* the number of characters (code points) of a UTF-8 string */
size_t admin_utf8_len(const char *s);

/* a decimal id (1 to 18 digits, not 0) into out, or -1 */
int admin_parse_id(const char *s, char *out, size_t len) ADMIN_MUST_CHECK;

/*
 * Runs a statement whose result is one row of one column holding JSON
 * text.  Returns 1 with the parsed value in *out, 0 when there is no row,
 * -1 on failure (logged).
 */
int admin_query_json(db_conn_t *c, const db_stmt_t *stmt, int n,
    const char *const *params, json_t **out) ADMIN_MUST_CHECK;

/*
 * Answers a list that takes no query parameter: 200 with the JSON array
 * stmt returns (no parameters, one row, one column).
 */
int admin_reply_list(admin_req_t *ar, const db_stmt_t *stmt,
    admin_err_t *err) ADMIN_MUST_CHECK;

/*
 * Appends an audit_log row; detail (borrowed, may be NULL) must hold no
 * secret.  0 or -1.
 */
int admin_audit(db_conn_t *c, const admin_actor_t *who, const char *action,
    const char *target, const char *client_id, json_t *detail)
    ADMIN_MUST_CHECK;

/* the request's JSON body (a new reference), or NULL with err (400) */
json_t *admin_body(admin_req_t *ar, admin_err_t *err);

/* db_begin() and db_commit(), failing with a 500 in err */
int admin_begin(db_conn_t *c, admin_err_t *err) ADMIN_MUST_CHECK;
int admin_commit(db_conn_t *c, admin_err_t *err) ADMIN_MUST_CHECK;

/* the JSON text of a value for a jsonb parameter, for free() */
char *admin_json_text(json_t *v);

/*
 * Rewrites the policy document after a committed change; 0 or -1
 * (logged).  The change stays made when this fails.
 */
int admin_policy_write(const char *req_id);

/* the policy document as it would be written, or NULL (logged) */
json_t *admin_policy_document(db_conn_t *c, const char *req_id);


/* admin_types.c */

/*
 * Creates or replaces the resource type name with the controls of type
 * (an object as in the policy document); *created tells which.
 */
int admin_type_put(db_conn_t *c, const admin_actor_t *who, const char *name,
    json_t *type, int *created, admin_err_t *err) ADMIN_MUST_CHECK;

int admin_types_list(admin_req_t *ar, admin_err_t *err);
int admin_types_get(admin_req_t *ar, admin_err_t *err);
int admin_types_put(admin_req_t *ar, admin_err_t *err);
int admin_types_delete(admin_req_t *ar, admin_err_t *err);


/* admin_apps.c */

/* an application of `authd load`, created or updated by client_id */
int admin_app_load(db_conn_t *c, const admin_actor_t *who, json_t *app,
    admin_err_t *err) ADMIN_MUST_CHECK;

int admin_apps_list(admin_req_t *ar, admin_err_t *err);
int admin_apps_get(admin_req_t *ar, admin_err_t *err);
int admin_apps_create(admin_req_t *ar, admin_err_t *err);
int admin_apps_update(admin_req_t *ar, admin_err_t *err);
int admin_apps_secret(admin_req_t *ar, admin_err_t *err);
int admin_apps_delete(admin_req_t *ar, admin_err_t *err);


/* admin_users.c */

/*
 * Creates a user from an API body (or the one create-admin builds): the
 * new id goes into id.  A taken username or patient_id is a 409.
 */
int admin_user_create(db_conn_t *c, const admin_actor_t *who, json_t *user,
    char *id, size_t idlen, admin_err_t *err) ADMIN_MUST_CHECK;

/*
 * A users entry of `authd load` (mode ADMIN_LOAD), created or updated by
 * username, or a crosswalk entry (ADMIN_CROSSWALK) giving an existing
 * beneficiary their patient_id.
 */
int admin_user_load(db_conn_t *c, const admin_actor_t *who, json_t *fields,
    unsigned mode, admin_err_t *err) ADMIN_MUST_CHECK;

int admin_users_list(admin_req_t *ar, admin_err_t *err);
int admin_users_get(admin_req_t *ar, admin_err_t *err);
int admin_users_create(admin_req_t *ar, admin_err_t *err);
int admin_users_update(admin_req_t *ar, admin_err_t *err);
int admin_users_delete(admin_req_t *ar, admin_err_t *err);


/* admin_grants.c */

int admin_grants_list(admin_req_t *ar, admin_err_t *err);
int admin_grants_get(admin_req_t *ar, admin_err_t *err);
int admin_grants_delete(admin_req_t *ar, admin_err_t *err);
int admin_audit_list(admin_req_t *ar, admin_err_t *err);
int admin_keys_list(admin_req_t *ar, admin_err_t *err);
int admin_keys_rotate(admin_req_t *ar, admin_err_t *err);
int admin_policy_get(admin_req_t *ar, admin_err_t *err);


#endif /* AUTHD_ADMIN_H */
