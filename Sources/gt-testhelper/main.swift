// gt-testhelper: child processes for the multi-process tests (git compare-and-swap pushes, store locks and
// kill -9 during appends). The first argument picks the helper; see GitHelper.swift, StoreHelper.swift and
// ExitProbe.swift.
import CShims

let arguments = CommandLine.arguments
// Before the process set-up below: the probe checks what the Git module does on its own.
if arguments.count > 1, arguments[1] == "git-exit" { await runGitExitProbe(arguments) }
gtshim_openssl_init_no_atexit()
if arguments.count > 1, arguments[1] == "cas-push" {
    await runGitHelper(arguments)
} else {
    await runStoreHelper(arguments)
}
