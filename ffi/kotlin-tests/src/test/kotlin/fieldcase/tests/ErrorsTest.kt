// Bad input and bad moments from Kotlin: every failure is a typed exception with a useful
// message, and nothing brings the JVM down.
package fieldcase.tests

import com.sun.net.httpserver.HttpServer
import fieldcase.FieldcaseException
import fieldcase.FieldcaseStore
import fieldcase.ServiceData
import fieldcase.ServiceType
import fieldcase.createUnenrolledStoreForTests
import fieldcase.enrollWithInsecureFastKdf
import fieldcase.openStore
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import java.net.InetSocketAddress
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ErrorsTest {
    private fun newStore(): Pair<FieldcaseStore, String> {
        val path = workDir("errors").resolve("store.db").toString()
        return createUnenrolledStoreForTests(path, PASSPHRASE, "iom_uga", "cw_1") to path
    }

    @Test
    fun `a bad country code is a typed exception naming the field, never the value`() {
        val (store, _) = newStore()
        val error = assertThrows<FieldcaseException.Invalid> {
            store.createCase(sampleCase("Amina").copy(nationality = "Zaynab", intakeDate = "2024-02-30"))
        }
        assertEquals(setOf("nationality", "intake_date"), error.problems.map { it.field }.toSet())
        val nationality = error.problems.single { it.field == "nationality" }
        assertTrue(nationality.reason.contains("ISO 3166-1 alpha-3"), nationality.reason)
        assertTrue(error.message!!.contains("nationality"))
        assertFalse(error.toString().contains("Zaynab"), error.toString())
        assertEquals(0uL, store.countCases(null), "nothing was written")
    }

    @Test
    fun `other bad input is refused with the field named`() {
        val (store, _) = newStore()
        val noConsent = assertThrows<FieldcaseException.Invalid> {
            store.createCase(sampleCase("Amina").copy(consentAssistance = null))
        }
        assertEquals(listOf("consent.assistance"), noConsent.problems.map { it.field })
        val badAnswers = assertThrows<FieldcaseException.Invalid> {
            store.createCase(sampleCase("Amina").copy(answersJson = "not json"))
        }
        assertEquals(listOf("answers"), badAnswers.problems.map { it.field })
        val badId = assertThrows<FieldcaseException.Invalid> { store.getCase("42") }
        assertEquals(listOf("id"), badId.problems.map { it.field })
        assertThrows<FieldcaseException.NotFound> { store.getCase("0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10") }
        val caseId = store.createCase(sampleCase("Amina"))
        val service = assertThrows<FieldcaseException.Invalid> {
            store.addService(ServiceData(caseId, ServiceType.MEDICAL, "2999-01-01", "IOM Uganda", null))
        }
        assertEquals(setOf("date", "provider_agency"), service.problems.map { it.field }.toSet())
    }

    @Test
    fun `a wrong passphrase, a locked store and a closed object are typed failures`() = runBlocking {
        val (store, path) = newStore()
        store.createCase(sampleCase("Amina"))
        store.lock()
        assertThrows<FieldcaseException.Locked> { store.listCases(null, 10u, 0u) }
        assertThrows<FieldcaseException.Locked> { store.createCase(sampleCase("Grace")) }
        assertThrows<FieldcaseException.WrongPassphrase> { runBlocking { openStore(path, "guess", null) } }
        assertThrows<FieldcaseException.NotFound> { runBlocking { openStore("$path.missing", PASSPHRASE, null) } }
        store.close()
        // A destroyed object is refused by the bindings before any native call.
        assertThrows<IllegalStateException> { store.isLocked() }
        val reopened = openStore(path, PASSPHRASE, null)
        assertEquals(1uL, reopened.countCases(null))
        reopened.wipe()
        assertThrows<FieldcaseException.Wiped> { reopened.countCases(null) }
        reopened.close()
    }

    @Test
    fun `sync without enrollment, and a weak keystore secret, are refused`() = runBlocking {
        val (store, _) = newStore()
        assertThrows<FieldcaseException.NotEnrolled> { runBlocking { store.sync(null) } }
        val weak = assertThrows<FieldcaseException.Invalid> {
            runBlocking {
                enrollWithInsecureFastKdf(
                    "http://127.0.0.1:9", "CODE", "phone", workDir("weak").resolve("s.db").toString(),
                    PASSPHRASE, byteArrayOf(1, 2, 3),
                )
            }
        }
        assertEquals(listOf("extra_secret"), weak.problems.map { it.field })
        val unreachable = assertThrows<FieldcaseException.Network> {
            runBlocking {
                enrollWithInsecureFastKdf(
                    "http://127.0.0.1:9", "CODE", "phone", workDir("down").resolve("s.db").toString(),
                    PASSPHRASE, null,
                )
            }
        }
        assertTrue(unreachable.isTransient())
    }

    @Test
    fun `many threads share one store`() {
        val (store, _) = newStore()
        val threads = (0 until 4).map { t ->
            Thread {
                repeat(10) { i ->
                    store.createCase(sampleCase("Person${t}x$i"))
                    store.listCases(null, 20u, 0u)
                }
            }
        }
        threads.forEach { it.start() }
        threads.forEach { it.join() }
        assertEquals(40uL, store.countCases(null))
    }

    /** A server that enrolls anyone, then never answers a sync. */
    private class SilentServer : AutoCloseable {
        val syncArrived = CountDownLatch(1)
        private val release = CountDownLatch(1)
        private val http: HttpServer = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0).apply {
            executor = Executors.newCachedThreadPool { r -> Thread(r).apply { isDaemon = true } }
            createContext("/v1/enroll") { exchange ->
                val body = """{"device_id":"0190a6f8-7e1c-7cc3-8a5b-3f1f2f9e4b10","agency":"iom_uga",""" +
                    """"user_id":"cw_9","role":"caseworker","credential":"not-real"}"""
                exchange.responseHeaders.add("content-type", "application/json")
                exchange.sendResponseHeaders(201, body.length.toLong())
                exchange.responseBody.use { it.write(body.toByteArray()) }
            }
            createContext("/v1/sync") { exchange ->
                syncArrived.countDown()
                release.await(60, TimeUnit.SECONDS)
                exchange.close()
            }
            start()
        }
        val url = "http://127.0.0.1:${http.address.port}"

        override fun close() {
            release.countDown()
            http.stop(0)
        }
    }

    @Test
    fun `a server that dies in the middle of a sync is a transient network error`() = runBlocking {
        val server = SilentServer()
        val store = enrollWithInsecureFastKdf(
            server.url, "ABCD-EFGH", "phone", workDir("dying").resolve("s.db").toString(),
            PASSPHRASE, null,
        )
        store.createCase(sampleCase("Amina"))
        val running = async(Dispatchers.IO) { runCatching { store.sync(null) } }
        assertTrue(server.syncArrived.await(30, TimeUnit.SECONDS))
        server.close() // the request in flight is cut off with no reply
        val failed = withTimeout(30_000) { running.await() }.exceptionOrNull()
        assertTrue(failed is FieldcaseException.Network, "$failed")
        assertTrue((failed as FieldcaseException).isTransient())
        val status = store.status()
        assertEquals(1uL, status.pendingChanges, "kept for the next sync")
        assertFalse(status.synced)
        store.close()
    }

    @Test
    fun `a hanging sync is cancelled by cancelSync and by cancelling the coroutine`() = runBlocking {
        SilentServer().use { server ->
            val store = enrollWithInsecureFastKdf(
                server.url, "ABCD-EFGH", "phone", workDir("silent").resolve("s.db").toString(),
                PASSPHRASE, null,
            )
            store.createCase(sampleCase("Amina"))

            // cancelSync() from another thread.
            val running = async(Dispatchers.IO) { runCatching { store.sync(null) } }
            assertTrue(server.syncArrived.await(30, TimeUnit.SECONDS))
            assertThrows<FieldcaseException.SyncInProgress> { runBlocking { store.sync(null) } }
            assertTrue(store.cancelSync())
            val cancelled = withTimeout(10_000) { running.await() }
            assertTrue(cancelled.exceptionOrNull() is FieldcaseException.Cancelled, "$cancelled")

            // A cancelled coroutine cancels the sync underneath it and frees the slot.
            assertThrows<TimeoutCancellationException> {
                runBlocking { withTimeout(300) { store.sync(null) } }
            }
            assertFalse(store.cancelSync(), "nothing left running")
            val again = launch(Dispatchers.IO) { runCatching { store.sync(null) } }
            Thread.sleep(100)
            assertTrue(store.cancelSync())
            withTimeout(10_000) { again.join() }
            assertEquals(1uL, store.status().pendingChanges, "nothing lost")
            store.close()
        }
    }
}
