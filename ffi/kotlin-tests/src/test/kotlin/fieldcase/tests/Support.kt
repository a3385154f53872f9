// Test support: a real `fieldcase serve` on loopback, its admin CLI, and small helpers.
package fieldcase.tests

import fieldcase.AssistanceConsent
import fieldcase.CaseData
import fieldcase.CaseStatus
import fieldcase.Category
import fieldcase.Sex
import java.io.File
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit

const val PASSPHRASE = "correct horse battery staple"

/** A fresh directory under the build's work dir (surefire sets `fieldcase.work.dir`). */
fun workDir(name: String): Path {
    val root = Path.of(System.getProperty("fieldcase.work.dir") ?: "target/work")
    Files.createDirectories(root)
    return Files.createTempDirectory(root, name)
}

/** A valid case: an adult, with the consent that identifying data needs. */
fun sampleCase(given: String, family: String = "Okello", phone: String? = null) = CaseData(
    givenName = given,
    familyName = family,
    phone = phone,
    sex = Sex.FEMALE,
    nationality = "UGA",
    countryOfAssistance = "KEN",
    intakeDate = "2024-06-01",
    categories = listOf(Category.STRANDED_MIGRANT),
    consentAssistance = AssistanceConsent(given = true, date = "2024-06-01", recordedBy = "cw_1"),
    status = CaseStatus.OPEN,
    answersJson = """{"household_size": 4, "interview_language": "sw"}""",
)

/**
 * `fieldcase serve --data-dir D --listen 127.0.0.1:0`, started by the test: the binary comes
 * from the `fieldcase.server.bin` system property (the script builds it).
 */
class FieldcaseServer private constructor(
    private val bin: String,
    private val process: Process,
    val dataDir: Path,
    val url: String,
) : AutoCloseable {
    companion object {
        fun start(): FieldcaseServer {
            val bin = System.getProperty("fieldcase.server.bin")
                ?: error("set -Dfieldcase.server.bin to the fieldcase binary")
            check(File(bin).canExecute()) { "no fieldcase binary at $bin" }
            val dataDir = workDir("server")
            val process = ProcessBuilder(
                bin, "serve", "--data-dir", dataDir.toString(), "--listen", "127.0.0.1:0",
            )
                .redirectError(dataDir.resolve("server.log").toFile())
                .start()
            val stdout = process.inputStream.bufferedReader()
            var url: String? = null
            while (url == null) {
                val line = stdout.readLine() ?: error("the server exited before listening")
                if (line.startsWith("listening on ")) url = line.removePrefix("listening on ").trim()
            }
            // Keep draining stdout so the server never blocks on a full pipe.
            Thread { stdout.useLines { lines -> lines.forEach { } } }.apply { isDaemon = true }.start()
            return FieldcaseServer(bin, process, dataDir, url)
        }
    }

    /** `fieldcase --json admin --server URL --token-file D/admin.token ARGS…`: its stdout. */
    fun admin(vararg args: String): String {
        val command = listOf(
            bin, "--json", "admin", "--server", url,
            "--token-file", dataDir.resolve("admin.token").toString(),
        ) + args
        val process = ProcessBuilder(command).redirectErrorStream(false).start()
        val out = process.inputStream.bufferedReader().readText()
        val err = process.errorStream.bufferedReader().readText()
        check(process.waitFor(60, TimeUnit.SECONDS)) { "admin command timed out" }
        check(process.exitValue() == 0) { "admin ${args.joinToString(" ")} failed: $err" }
        return out
    }

    fun addAgency(code: String, name: String) { admin("agency", "add", code, "--name", name) }

    /** Creates a caseworker; returns the user id. */
    fun addCaseworker(agency: String, name: String): String =
        jsonString(admin("user", "add", "--agency", agency, "--role", "caseworker", "--name", name), "id")

    /** A one-time enrollment code for the user. */
    fun enrollmentCode(userId: String): String =
        jsonString(admin("enroll-code", "--user", userId), "code")

    fun revokeDevice(deviceId: String) { admin("device", "revoke", deviceId) }

    /** Stops the server (as a crash or a lost network would look to a phone). */
    fun stop() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
    }

    override fun close() = stop()
}

/** The string value of `"key": "…"` in a flat JSON object (enough for the CLI's replies). */
fun jsonString(json: String, key: String): String =
    Regex("\"" + Regex.escape(key) + "\"\\s*:\\s*\"([^\"]*)\"").find(json)?.groupValues?.get(1)
        ?: error("no \"$key\" in the admin reply")
