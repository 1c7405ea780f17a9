/*
 * `authd migrate`: applies the schema files (*.sql) of a directory in name
 * order, each once and in its own transaction, recording each in
 * schema_migrations.  A file must not hold BEGIN or COMMIT itself.
 */

#ifndef AUTHD_MIGRATE_H
#define AUTHD_MIGRATE_H


/* 0, or -1 (logged) when a file failed: later files are not applied */
int migrate_run(const char *dir) __attribute__((warn_unused_result));


#endif /* AUTHD_MIGRATE_H */
