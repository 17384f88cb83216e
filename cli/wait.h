/*
 * wait.h — `amifs wait MOUNT/tasks/NAME`: what a script waits on.
 *
 * Reading tasks/NAME/wait blocks until the import ends and prints the final
 * status line, but a read cannot fail after it has data, so `cat .../wait`
 * exits 0 whether the import completed or failed. `amifs wait` reads the
 * same file, prints the same line, and says it in the exit code, as
 * `aws ec2 wait` does:
 *
 *   0  the task completed (`completed ami-...`)
 *   1  it failed or was cancelled (the line says why; `diagnosis` explains)
 *   2  usage error, or PATH is not a task directory of an amifs mount
 *
 * PATH is the task's directory (tasks/ID or the tasks/NAME alias), or its
 * wait file. Ctrl-C interrupts the wait (exit 130, as the shell reports).
 */
#ifndef AMIFS_CLI_WAIT_H
#define AMIFS_CLI_WAIT_H

/* argv[0] is "wait". Returns the exit code above. */
int amifs_wait_main(int argc, char **argv);

#endif
