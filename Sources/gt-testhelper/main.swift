// gt-testhelper: child processes for the multi-process tests (git compare-and-swap pushes, store locks and
// kill -9 during appends). The first argument picks the helper; see GitHelper.swift and StoreHelper.swift.
import CShims

gtshim_openssl_init_no_atexit()
let arguments = CommandLine.arguments
if arguments.count > 1, arguments[1] == "cas-push" {
    await runGitHelper(arguments)
} else {
    await runStoreHelper(arguments)
}
