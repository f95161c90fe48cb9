import GasTownCLI
import Glibc

exit(await GT.main(CommandLine.arguments))
