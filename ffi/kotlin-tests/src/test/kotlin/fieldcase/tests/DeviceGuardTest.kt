// The device's unlock guard from Kotlin, against a real `fieldcase serve`: failed unlocks slow
// down and the delay travels with a copy of the file; the agency's limit erases the store for
// good; a store copied back from an older file is refused by the server at its next sync.
// Delays are passed by moving the library's test clock forward, never by sleeping.
package fieldcase.tests

import fieldcase.FieldcaseException
import fieldcase.advanceUnlockClockForTests
import fieldcase.enrollWithInsecureFastKdf
import fieldcase.openStore
import fieldcase.unlockStatus
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit

/** Copies a store's database and, if present, its WAL, as someone copying it off a phone would. */
fun copyStore(from: Path, to: Path) {
    Files.copy(from, to)
    val wal = Path.of("$from-wal")
    if (Files.exists(wal)) Files.copy(wal, Path.of("$to-wal"))
}

class DeviceGuardTest {
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    fun `failed unlocks slow down and survive a copy, the limit erases, a rolled-back store is refused`() = runBlocking {
        FieldcaseServer.start().use { server ->
            server.addAgency("iom_uga", "IOM Uganda")
            val user = server.addCaseworker("iom_uga", "Caseworker")
            val dir = workDir("guard")
            val path = dir.resolve("a.db")
            val a = enrollWithInsecureFastKdf(
                server.url, server.enrollmentCode(user), "phone", path.toString(), PASSPHRASE, null,
            )
            a.createCase(sampleCase("Amina"))
            a.sync(null)
            // The agency set nothing: the default policy came with the sync.
            assertEquals(10u, a.devicePolicy().eraseAfterFailures)
            assertEquals(0u, a.devicePolicy().leaseDays)

            // --- An older copy of the store, kept aside. ---
            a.lock()
            val older = dir.resolve("older.db")
            copyStore(path, older)

            // --- Three wrong guesses are free; the fourth attempt must wait 30 s. ---
            repeat(3) {
                assertThrows<FieldcaseException.WrongPassphrase> { runBlocking { a.unlock("guess", null) } }
            }
            val tooSoon = assertThrows<FieldcaseException.TooSoon> { runBlocking { a.unlock(PASSPHRASE, null) } }
            assertEquals(30uL, tooSoon.retryAfterSecs)
            assertTrue(tooSoon.reason.contains("30 seconds"), tooSoon.reason)
            assertTrue(a.isLocked())

            // --- A copy of the file demands the same delay. ---
            val copy = dir.resolve("copy.db")
            copyStore(path, copy)
            assertThrows<FieldcaseException.TooSoon> { runBlocking { openStore(copy.toString(), PASSPHRASE, null) } }
            val status = unlockStatus(copy.toString())
            assertEquals(3u, status.failedAttempts)
            assertEquals(7u, status.attemptsBeforeErase)

            // --- Once the delay has passed, the right passphrase opens it and says what happened. ---
            advanceUnlockClockForTests(30uL)
            a.unlock(PASSPHRASE, null)
            assertEquals(3u, a.lastUnlockReport().failedAttempts)
            assertFalse(a.lastUnlockReport().guardTampered)
            assertEquals(0u, a.unlockStatus().failedAttempts)

            // --- The phone keeps working and syncing; then the older copy is put back. ---
            a.createCase(sampleCase("Grace"))
            a.sync(null)
            a.lock()
            val rolledBack = openStore(older.toString(), PASSPHRASE, null)
            val refused = assertThrows<FieldcaseException.StoreUntrusted> { runBlocking { rolledBack.sync(null) } }
            assertTrue(refused.reason.contains("older"), refused.reason)
            assertFalse(refused.isTransient())
            // The server refuses that device from now on, whichever file it syncs from.
            a.unlock(PASSPHRASE, null)
            assertThrows<FieldcaseException.StoreUntrusted> { runBlocking { a.sync(null) } }
            // Nothing on the phone was deleted.
            assertEquals(2uL, a.countCases(null))

            // --- The copy with three failures: seven more wrong guesses erase it. ---
            var wrong = 0
            while (true) {
                advanceUnlockClockForTests(3600uL)
                try {
                    openStore(copy.toString(), "guess", null)
                    error("a wrong passphrase opened the store")
                } catch (e: FieldcaseException.WrongPassphrase) {
                    wrong++
                } catch (e: FieldcaseException.Erased) {
                    break
                }
            }
            assertEquals(6, wrong, "the tenth failure erases")
            advanceUnlockClockForTests(3600uL)
            val erased = assertThrows<FieldcaseException.Erased> { runBlocking { openStore(copy.toString(), PASSPHRASE, null) } }
            assertTrue(erased.reason.contains("cannot be recovered"), erased.reason)
            assertThrows<FieldcaseException.Erased> { unlockStatus(copy.toString()) }
        }
        Unit
    }
}
