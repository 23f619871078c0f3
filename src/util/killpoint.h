/*
 * killpoint.h -- named places where a stress build (cmake -DTIND_KILL_POINTS=ON)
 * can stop the process, so that rare crash windows are hit deliberately.
 *
 *   KILL_POINT("journal.append.before");
 *
 * In a normal build the macro is empty. In a kill-point build, the process
 * SIGKILLs itself at a kill point whose name starts with $TIND_KILL_AT, with
 * probability 1 / $TIND_KILL_ODDS (default 1) per visit. The settings are read
 * once from the environment (test builds only: the one piece of process-wide
 * state, never written after it is read). Known points (docs/RELIABILITY.md):
 *   journal.append.before / journal.append.after   around the record write
 *   journal.sync.after                             after a journal fsync
 *   table.sync.before / table.sync.after           around a new table's fsync
 *   version.write.before / version.write.after     around the version file write
 *   flush.install.before                           table written, version not yet
 *   compaction.install.before                      outputs written, version not yet
 *   compaction.output                              between output tables
 *   recovery.replay                                inside journal replay at open
 */
#ifndef TIND_UTIL_KILLPOINT_H
#define TIND_UTIL_KILLPOINT_H

#ifdef TIND_KILL_POINTS
void kill_point(const char *name);
#define KILL_POINT(name) kill_point(name)
#else
#define KILL_POINT(name) ((void)0)
#endif

#endif
