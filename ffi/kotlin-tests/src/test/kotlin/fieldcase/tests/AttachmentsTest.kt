// Attachments across the facade, against a real `fieldcase serve`: one phone attaches a small
// photo (bytes) and a multi-MB scan (a file), refused input writes nothing, a sync uploads
// both; a second phone of the agency syncs, lists them offline with their size before any
// download, fetches them on demand and reads them back with progress, to bytes and to a file.
package fieldcase.tests

import fieldcase.AttachmentObserver
import fieldcase.AttachmentSyncState
import fieldcase.FieldcaseException
import fieldcase.enrollWithInsecureFastKdf
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows
import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit

/** A JPEG-looking image of `size` bytes (the facade checks the first bytes, not the rest). */
fun jpeg(size: Int, seed: Int): ByteArray = ByteArray(size) { i ->
    when (i) {
        0 -> 0xFF.toByte(); 1 -> 0xD8.toByte(); 2 -> 0xFF.toByte(); 3 -> 0xE0.toByte()
        else -> (i * 31 + seed).toByte()
    }
}

/** Records every progress report of a read or a fetch. */
class RecordingProgress : AttachmentObserver {
    val reports = CopyOnWriteArrayList<Pair<ULong, ULong>>()
    override fun onProgress(doneBytes: ULong, totalBytes: ULong) { reports.add(doneBytes to totalBytes) }
}

class AttachmentsTest {
    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    fun `an attachment made on one phone is listed offline, fetched and read with progress on another`() = runBlocking {
        FieldcaseServer.start().use { server ->
            server.addAgency("iom_uga", "IOM Uganda")
            val userA = server.addCaseworker("iom_uga", "Caseworker A")
            val userB = server.addCaseworker("iom_uga", "Caseworker B")
            val dir = workDir("attachments")
            val a = enrollWithInsecureFastKdf(
                server.url, server.enrollmentCode(userA), "phone A", dir.resolve("a.db").toString(), PASSPHRASE, null,
            )
            val b = enrollWithInsecureFastKdf(
                server.url, server.enrollmentCode(userB), "phone B", dir.resolve("b.db").toString(), PASSPHRASE, null,
            )
            val caseId = a.createCase(sampleCase("Amina"))

            // --- Phone A: a photo from the camera (bytes) and a scan from a file. ---
            val photo = jpeg(150_000, 1)
            val scanBytes = jpeg(6 * 1024 * 1024, 2)
            val scanFile = dir.resolve("scan.jpg")
            Files.write(scanFile, scanBytes)
            val photoId = a.attachBytes(caseId, photo, "image/jpeg", null, "Amina, face")
            val scanId = a.attachFile(caseId, scanFile.toString(), "image/jpeg", "document_numbers", "passport scan")

            // Refused input: a typed exception naming what was wrong, and nothing written.
            val wrongType = assertThrows<FieldcaseException.Invalid> {
                a.attachBytes(caseId, photo, "application/pdf", null, null)
            }
            assertEquals("content_type", wrongType.problems.single().field)
            val wrongField = assertThrows<FieldcaseException.Invalid> {
                a.attachBytes(caseId, photo, "image/jpeg", "given_name", null)
            }
            assertEquals("field", wrongField.problems.single().field)
            assertThrows<FieldcaseException.Invalid> { a.attachBytes(caseId, ByteArray(0), "image/jpeg", null, null) }
            assertThrows<FieldcaseException.NotFound> {
                a.attachFile(caseId, dir.resolve("missing.jpg").toString(), "image/jpeg", null, null)
            }
            assertThrows<FieldcaseException.Invalid> { a.listAttachments("not an id") }

            val before = a.listAttachments(caseId)
            assertEquals(listOf(photoId, scanId), before.map { it.id })
            assertTrue(before.all { it.syncState == AttachmentSyncState.LocalOnly })
            assertEquals("AttachmentInfo { .. }", before[0].toString(), "toString shows no label")

            // --- A syncs: both go up. ---
            a.sync(null)
            assertTrue(a.listAttachments(caseId).all { it.syncState == AttachmentSyncState.Uploaded })

            // --- Phone B: one sync, then the list offline, sizes before any download. ---
            b.sync(null)
            val listed = b.listAttachments(caseId)
            assertEquals(listOf(photoId, scanId), listed.map { it.id })
            assertTrue(listed.all { it.syncState == AttachmentSyncState.RemoteOnly })
            assertEquals(listOf(photo.size.toULong(), scanBytes.size.toULong()), listed.map { it.size })
            assertEquals(listOf("photo", "document_numbers"), listed.map { it.field })
            assertEquals(listOf("Amina, face", "passport scan"), listed.map { it.label })
            assertEquals("image/jpeg", listed[1].contentType)
            assertThrows<FieldcaseException.NotFound> { b.readAttachmentBytes(photoId, null) }

            // --- Fetched on demand, with progress. ---
            val fetching = RecordingProgress()
            val fetched = b.fetchAttachment(scanId, fetching)
            assertEquals(AttachmentSyncState.Uploaded, fetched.syncState)
            assertEquals(0uL to scanBytes.size.toULong(), fetching.reports.first())
            assertEquals(scanBytes.size.toULong() to scanBytes.size.toULong(), fetching.reports.last())
            assertTrue(fetching.reports.size > 90, "one report per 64 KiB chunk")
            b.fetchAttachment(photoId, null)

            // --- Read back: to a file (the large one) and to bytes (the small one). ---
            val reading = RecordingProgress()
            val out = dir.resolve("out/scan-copy.jpg")
            Files.createDirectories(out.parent)
            assertEquals(scanBytes.size.toULong(), b.readAttachmentToFile(scanId, out.toString(), reading))
            assertArrayEquals(scanBytes, Files.readAllBytes(out))
            assertEquals(listOf(out.fileName.toString()), Files.list(out.parent).use { s -> s.map { it.fileName.toString() }.toList() },
                "no temporary file is left behind")
            val dones = reading.reports.map { it.first }
            assertEquals(dones.sorted(), dones, "progress only moves forward")
            assertEquals(scanBytes.size.toULong(), dones.last())
            assertArrayEquals(photo, b.readAttachmentBytes(photoId, null))
            val tooLarge = assertThrows<FieldcaseException.Invalid> { b.readAttachmentBytes(scanId, null) }
            assertEquals("attachment_id", tooLarge.problems.single().field)
            assertTrue(b.listAttachments(caseId).all { it.syncState == AttachmentSyncState.Uploaded })

            // An unknown attachment: NotFound from the server, nothing written.
            assertThrows<FieldcaseException.NotFound> { b.fetchAttachment("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", null) }
            assertFalse(b.listAttachments(caseId).any { it.id == "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" })
            a.close(); b.close()
        }
    }
}
