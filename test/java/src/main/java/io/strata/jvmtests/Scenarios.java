package io.strata.jvmtests;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Java client scenarios against a broker, run by the Go tests of test/jvm through
 * kafka-run-class. Each scenario checks what it reads itself and throws (exit status 1, the
 * stack trace on stderr) on the first mismatch; on success it prints one line "ok NAME
 * details" on stdout. Arguments: NAME BOOTSTRAP [scenario arguments]. Client settings
 * (security) come from the file in the STRATA_CLIENT_PROPS environment variable, if set.
 */
public final class Scenarios {
    private static final Duration WAIT = Duration.ofSeconds(60);

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Scenarios NAME BOOTSTRAP [args...]");
            System.exit(2);
        }
        String bs = args[1];
        String[] rest = Arrays.copyOfRange(args, 2, args.length);
        switch (args[0]) {
            case "codecs" -> codecs(bs, rest[0]);
            case "group" -> group(bs, rest[0], rest[1], rest[2]);
            case "static" -> staticMembership(bs, rest[0], rest[1], false);
            case "static-consumer" -> staticMembership(bs, rest[0], rest[1], true);
            case "migrate" -> migrate(bs, rest[0], rest[1]);
            case "produce-times" -> produceTimes(bs, rest[0], Integer.parseInt(rest[1]), Long.parseLong(rest[2]));
            case "check-times" -> checkTimes(bs, rest[0], Integer.parseInt(rest[1]), Long.parseLong(rest[2]));
            case "admin" -> admin(bs, rest[0]);
            case "roundtrip" -> roundtrip(bs, rest[0]);
            case "transactions" -> transactions(bs, rest[0], rest[1]);
            case "txn-open" -> txnOpen(bs, rest[0], rest[1]);
            case "streams-table" -> streamsTable(bs, rest[0], rest[1], rest[2], Integer.parseInt(rest[3]), Boolean.parseBoolean(rest[4]));
            case "streams-eos" -> streamsEos(bs, rest[0], rest[1], rest[2], rest[3], Integer.parseInt(rest[4]));
            case "produce-for" -> produceFor(bs, rest[0], Long.parseLong(rest[1]));
            default -> {
                System.err.println("unknown scenario " + args[0]);
                System.exit(2);
            }
        }
        System.exit(0); // a lingering client thread must not keep the JVM alive
    }

    // --- helpers --------------------------------------------------------------------------

    static Properties base(String bs) throws Exception {
        Properties p = new Properties();
        String file = System.getenv("STRATA_CLIENT_PROPS");
        if (file != null && !file.isEmpty()) {
            try (var in = java.nio.file.Files.newInputStream(java.nio.file.Path.of(file))) {
                p.load(in);
            }
        }
        p.put("bootstrap.servers", bs);
        return p;
    }

    static KafkaProducer<byte[], byte[]> producer(String bs, Map<String, Object> extra) throws Exception {
        Properties p = base(bs);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.putAll(extra);
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<byte[], byte[]> consumer(String bs, Map<String, Object> extra) throws Exception {
        Properties p = base(bs);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.putAll(extra);
        return new KafkaConsumer<>(p);
    }

    static Admin admin(String bs) throws Exception {
        Properties p = base(bs);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 60000);
        return Admin.create(p);
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String s(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /** Reads exactly n records of the partitions from their beginning (assign, no group). */
    static List<ConsumerRecord<byte[], byte[]>> readAll(String bs, Collection<TopicPartition> tps, int n) throws Exception {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (var c = consumer(bs, Map.of())) {
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (out.size() < n && System.nanoTime() < deadline) {
                for (var r : c.poll(Duration.ofMillis(500))) {
                    out.add(r);
                }
            }
            // Nothing more may arrive.
            for (var r : c.poll(Duration.ofMillis(500))) {
                out.add(r);
            }
        }
        check(out.size() == n, "read " + out.size() + " records, want " + n);
        return out;
    }

    static List<TopicPartition> partitions(String topic, int n) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        return tps;
    }

    static <T> T cause(ExecutionException e, Class<T> want) {
        check(want.isInstance(e.getCause()), "got " + e.getCause() + ", want " + want.getSimpleName());
        return want.cast(e.getCause());
    }

    // --- scenarios ------------------------------------------------------------------------

    /**
     * An idempotent producer (acks=all) with every codec: 200 keyed records each, with two
     * headers (one with a null value) and explicit timestamps; a consumer reads them back:
     * same key, value, headers and timestamp (CreateTime), each once, in produce order per
     * partition, offsets as the producer was told.
     */
    static void codecs(String bs, String topic) throws Exception {
        String[] codecs = {"none", "gzip", "snappy", "lz4", "zstd"};
        final int per = 200;
        long t0 = 1_700_000_000_000L;
        Map<String, RecordMetadata> acked = new HashMap<>();
        Map<String, ProducerRecord<byte[], byte[]>> sent = new HashMap<>();
        for (String codec : codecs) {
            try (var p = producer(bs, Map.of(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true, ProducerConfig.ACKS_CONFIG, "all",
                    ProducerConfig.COMPRESSION_TYPE_CONFIG, codec, ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5))) {
                List<java.util.concurrent.Future<RecordMetadata>> fs = new ArrayList<>();
                List<String> ids = new ArrayList<>();
                for (int i = 0; i < per; i++) {
                    String id = codec + "-" + i;
                    List<Header> hs = List.of(new RecordHeader("codec", b(codec)), new RecordHeader("empty", null));
                    var rec = new ProducerRecord<>(topic, null, t0 + i, b("key-" + (i % 17)), b("value " + id + " \u00e9\u00e8"), hs);
                    sent.put(id, rec);
                    ids.add(id);
                    fs.add(p.send(rec));
                }
                for (int i = 0; i < fs.size(); i++) {
                    acked.put(ids.get(i), fs.get(i).get(60, TimeUnit.SECONDS));
                }
            }
        }
        int parts;
        try (Admin a = admin(bs)) {
            parts = a.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
        }
        var got = readAll(bs, partitions(topic, parts), codecs.length * per);
        Set<String> seen = new HashSet<>();
        Map<Integer, Long> lastTs = new HashMap<>();
        for (var r : got) {
            String v = s(r.value());
            String id = v.substring("value ".length(), v.indexOf(' ', "value ".length()));
            check(seen.add(id), "record " + id + " read twice");
            var want = sent.get(id);
            var md = acked.get(id);
            check(want != null, "unexpected record " + v);
            check(md.partition() == r.partition() && md.offset() == r.offset(),
                    id + ": at " + r.partition() + "/" + r.offset() + ", producer was told " + md.partition() + "/" + md.offset());
            check(Arrays.equals(want.key(), r.key()) && Arrays.equals(want.value(), r.value()), id + ": key or value differs");
            check(r.timestamp() == want.timestamp() && r.timestampType() == org.apache.kafka.common.record.TimestampType.CREATE_TIME,
                    id + ": timestamp " + r.timestamp() + " " + r.timestampType() + ", want " + want.timestamp());
            Header[] hs = r.headers().toArray();
            check(hs.length == 2 && hs[0].key().equals("codec") && Arrays.equals(hs[0].value(), want.headers().lastHeader("codec").value())
                    && hs[1].key().equals("empty") && hs[1].value() == null, id + ": headers differ: " + Arrays.toString(hs));
            // Within one codec's run, a partition's records are in produce (timestamp) order.
            String codec = id.substring(0, id.indexOf('-'));
            lastTs.merge(r.partition() * 10 + Arrays.asList(codecs).indexOf(codec), r.timestamp(), (old, cur) -> {
                check(cur > old, id + ": out of order in partition " + r.partition());
                return cur;
            });
        }
        System.out.println("ok codecs " + got.size() + " records over " + parts + " partitions, idempotent, codecs " + String.join(",", codecs));
    }

    /**
     * Two consumers of one group (assignor "range" is eager, "cooperative-sticky" is
     * incremental; "consumer" is group.protocol=consumer, KIP-848, with the broker's uniform
     * assignor) split the topic with no partition owned twice, read n records once in
     * all, commit them; a third consumer of the group then finds nothing left to read, and
     * the committed offsets are the log end offsets.
     */
    static void group(String bs, String topic, String groupId, String assignor) throws Exception {
        String cls = switch (assignor) {
            case "range" -> RangeAssignor.class.getName();
            case "cooperative-sticky" -> CooperativeStickyAssignor.class.getName();
            case "consumer" -> null;
            default -> throw new IllegalArgumentException(assignor);
        };
        int parts;
        Map<TopicPartition, Long> ends;
        try (Admin a = admin(bs); var c = consumer(bs, Map.of())) {
            parts = a.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
            ends = c.endOffsets(partitions(topic, parts));
        }
        long total = ends.values().stream().mapToLong(Long::longValue).sum();
        Map<String, Object> cfg = cls == null
                ? Map.of(ConsumerConfig.GROUP_ID_CONFIG, groupId, ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer",
                        ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, "uniform")
                : Map.of(ConsumerConfig.GROUP_ID_CONFIG, groupId, ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, cls,
                        ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 30000, ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
        var c1 = consumer(bs, cfg);
        var c2 = consumer(bs, cfg);
        Map<TopicPartition, String> owner = new HashMap<>();
        Set<String> seen = Collections.synchronizedSet(new HashSet<>());
        AtomicReference<String> problem = new AtomicReference<>();
        List<KafkaConsumer<byte[], byte[]>> cs = List.of(c1, c2);
        for (int i = 0; i < 2; i++) {
            String name = "c" + (i + 1);
            cs.get(i).subscribe(List.of(topic), new ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> ps) {
                    synchronized (owner) {
                        ps.forEach(tp -> owner.remove(tp, name));
                    }
                }

                public void onPartitionsAssigned(Collection<TopicPartition> ps) {
                    synchronized (owner) {
                        for (var tp : ps) {
                            String prev = owner.put(tp, name);
                            if (prev != null && !prev.equals(name)) {
                                problem.compareAndSet(null, tp + " assigned to " + name + " while " + prev + " owns it");
                            }
                        }
                    }
                }
            });
        }
        // Poll both from this thread, alternately, until both hold partitions and all is read.
        long deadline = System.nanoTime() + WAIT.toNanos() * 2;
        Set<String> owners = new HashSet<>();
        while ((seen.size() < total || owners.size() < 2) && System.nanoTime() < deadline) {
            for (int i = 0; i < 2; i++) {
                ConsumerRecords<byte[], byte[]> rs = cs.get(i).poll(Duration.ofMillis(200));
                for (var r : rs) {
                    check(seen.add(r.partition() + "/" + r.offset()), "record " + r.partition() + "/" + r.offset() + " read twice");
                }
                if (!rs.isEmpty()) {
                    cs.get(i).commitSync();
                }
                if (!cs.get(i).assignment().isEmpty()) {
                    owners.add("c" + (i + 1));
                }
            }
            check(problem.get() == null, problem.get());
        }
        check(owners.size() == 2, "only " + owners + " got partitions");
        check(seen.size() == total, "read " + seen.size() + " records, want " + total);
        Set<TopicPartition> a1 = c1.assignment(), a2 = c2.assignment();
        check(Collections.disjoint(a1, a2) && a1.size() + a2.size() == parts, "assignments overlap or miss: " + a1 + " " + a2);
        c1.close();
        c2.close();
        try (Admin a = admin(bs)) {
            var committed = a.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata().get();
            for (var e : ends.entrySet()) {
                var om = committed.get(e.getKey());
                check(om != null && om.offset() == e.getValue(), e.getKey() + ": committed " + om + ", want " + e.getValue());
            }
        }
        System.out.println("ok group " + assignor + " " + total + " records, assignments " + a1 + " " + a2);
    }

    /**
     * Static membership (KIP-345): two members with group.instance.id; one closes (a static
     * member sends no LeaveGroup) and a new consumer with the same instance id comes back
     * within the session timeout: it gets the same partitions, and the other member is not
     * rebalanced (its generation does not change). With consumerProtocol (group.protocol=consumer,
     * KIP-848) the closing member leaves with epoch -2, keeping its partitions for its return,
     * and the generation is the other member's epoch.
     */
    static void staticMembership(String bs, String topic, String groupId, boolean consumerProtocol) throws Exception {
        Map<String, Object> base = consumerProtocol
                ? Map.of(ConsumerConfig.GROUP_ID_CONFIG, groupId, ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer")
                : Map.of(ConsumerConfig.GROUP_ID_CONFIG, groupId, ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 45000,
                        ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500, ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RangeAssignor.class.getName());
        var m1 = new HashMap<String, Object>(base);
        m1.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "static-1");
        var m2 = new HashMap<String, Object>(base);
        m2.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "static-2");
        var c1 = consumer(bs, m1);
        var c2 = consumer(bs, m2);
        c1.subscribe(List.of(topic));
        c2.subscribe(List.of(topic));
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            c1.poll(Duration.ofMillis(200));
            c2.poll(Duration.ofMillis(200));
            if (!c1.assignment().isEmpty() && !c2.assignment().isEmpty()
                    && c1.groupMetadata().generationId() == c2.groupMetadata().generationId()) {
                break;
            }
        }
        Set<TopicPartition> before = new HashSet<>(c1.assignment());
        int gen = c2.groupMetadata().generationId();
        check(!before.isEmpty() && !c2.assignment().isEmpty(), "members not both assigned: " + before + " " + c2.assignment());
        c1.close(); // static: no LeaveGroup
        var c1b = consumer(bs, m1);
        c1b.subscribe(List.of(topic));
        deadline = System.nanoTime() + WAIT.toNanos();
        while (c1b.assignment().isEmpty() && System.nanoTime() < deadline) {
            c1b.poll(Duration.ofMillis(200));
            c2.poll(Duration.ofMillis(200));
        }
        // Keep c2 polling a little: a rebalance would show as a new generation.
        for (int i = 0; i < 10; i++) {
            c1b.poll(Duration.ofMillis(100));
            c2.poll(Duration.ofMillis(100));
        }
        check(c1b.assignment().equals(before), "restarted static member got " + c1b.assignment() + ", had " + before);
        check(c2.groupMetadata().generationId() == gen, "other member's generation went from " + gen + " to " + c2.groupMetadata().generationId());
        String memberInstance = null;
        try (Admin a = admin(bs)) {
            var d = a.describeConsumerGroups(List.of(groupId)).all().get().get(groupId);
            check(d.members().size() == 2, "group has " + d.members().size() + " members, want 2");
            for (var m : d.members()) {
                check(m.groupInstanceId().isPresent(), "member " + m.consumerId() + " has no instance id");
                memberInstance = m.groupInstanceId().get();
            }
        }
        c1b.close();
        c2.close();
        System.out.println("ok " + (consumerProtocol ? "static-consumer" : "static") + " generation " + gen + " kept, partitions " + before + " returned to static-1 (" + memberInstance + ")");
    }

    /**
     * Online migration between the group protocols (Kafka 4.x's default bidirectional
     * policy): "classic" (cooperative-sticky) owns every partition; "consumer"
     * (group.protocol=consumer) joins the same group: both end up with partitions, never the
     * same one, every record is read once and committed; "consumer" closes and "classic"
     * owns every partition again.
     */
    static void migrate(String bs, String topic, String groupId) throws Exception {
        int parts;
        Map<TopicPartition, Long> ends;
        try (Admin a = admin(bs); var c = consumer(bs, Map.of())) {
            parts = a.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
            ends = c.endOffsets(partitions(topic, parts));
        }
        long total = ends.values().stream().mapToLong(Long::longValue).sum();
        Map<TopicPartition, String> owner = new HashMap<>();
        AtomicReference<String> problem = new AtomicReference<>();
        Set<String> seen = new HashSet<>();
        var classic = consumer(bs, Map.of(ConsumerConfig.GROUP_ID_CONFIG, groupId,
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName(),
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 30000, ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500));
        var next = consumer(bs, Map.of(ConsumerConfig.GROUP_ID_CONFIG, groupId, ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer"));
        List<KafkaConsumer<byte[], byte[]>> cs = List.of(classic, next);
        List<String> names = List.of("classic", "consumer");
        for (int i = 0; i < 2; i++) {
            String name = names.get(i);
            cs.get(i).subscribe(List.of(topic), new ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> ps) {
                    synchronized (owner) {
                        ps.forEach(tp -> owner.remove(tp, name));
                    }
                }

                public void onPartitionsAssigned(Collection<TopicPartition> ps) {
                    synchronized (owner) {
                        for (var tp : ps) {
                            String prev = owner.put(tp, name);
                            if (prev != null && !prev.equals(name)) {
                                problem.compareAndSet(null, tp + " assigned to " + name + " while " + prev + " owns it");
                            }
                        }
                    }
                }
            });
        }
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (classic.assignment().size() < parts && System.nanoTime() < deadline) {
            poll(classic, seen);
        }
        check(classic.assignment().size() == parts, "classic member owns " + classic.assignment() + ", want all " + parts);
        deadline = System.nanoTime() + WAIT.toNanos() * 2;
        while ((seen.size() < total || classic.assignment().isEmpty() || next.assignment().isEmpty()) && System.nanoTime() < deadline) {
            poll(classic, seen);
            poll(next, seen);
            check(problem.get() == null, problem.get());
        }
        Set<TopicPartition> a1 = new HashSet<>(classic.assignment()), a2 = new HashSet<>(next.assignment());
        check(!a1.isEmpty() && !a2.isEmpty() && Collections.disjoint(a1, a2), "mixed group assignments: " + a1 + " " + a2);
        check(seen.size() == total, "read " + seen.size() + " records, want " + total);
        next.close();
        deadline = System.nanoTime() + WAIT.toNanos();
        while (classic.assignment().size() < parts && System.nanoTime() < deadline) {
            poll(classic, seen);
            check(problem.get() == null, problem.get());
        }
        check(classic.assignment().size() == parts, "after the consumer-protocol member left the classic member owns " + classic.assignment());
        classic.close();
        try (Admin a = admin(bs)) {
            var committed = a.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata().get();
            for (var e : ends.entrySet()) {
                var om = committed.get(e.getKey());
                check(om != null && om.offset() == e.getValue(), e.getKey() + ": committed " + om + ", want " + e.getValue());
            }
        }
        System.out.println("ok migrate " + total + " records, mixed assignments " + a1 + " " + a2);
    }

    static void poll(KafkaConsumer<byte[], byte[]> c, Set<String> seen) {
        ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(200));
        for (var r : rs) {
            check(seen.add(r.partition() + "/" + r.offset()), "record " + r.partition() + "/" + r.offset() + " read twice");
        }
        if (!rs.isEmpty()) {
            c.commitSync();
        }
    }

    /** Produces n records of value "r-i" with timestamps t0 + 1000*i to partition 0. */
    static void produceTimes(String bs, String topic, int n, long t0) throws Exception {
        try (var p = producer(bs, Map.of(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true, ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4", ProducerConfig.BATCH_SIZE_CONFIG, 1024))) {
            List<java.util.concurrent.Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                fs.add(p.send(new ProducerRecord<>(topic, 0, t0 + 1000L * i, b("k" + i), b("r-" + i + "-" + "x".repeat(100)))));
            }
            for (int i = 0; i < n; i++) {
                long off = fs.get(i).get(60, TimeUnit.SECONDS).offset();
                check(off == i, "record " + i + " at offset " + off);
            }
        }
        System.out.println("ok produce-times " + n);
    }

    /**
     * offsetsForTimes on partition 0 (as produced by produce-times): a time between two
     * records finds the later one, an exact time finds that record, a time past the last
     * finds nothing; seeking to each found offset reads that record; the earliest and
     * latest offsets are 0 and n.
     */
    static void checkTimes(String bs, String topic, int n, long t0) throws Exception {
        TopicPartition tp = new TopicPartition(topic, 0);
        try (var c = consumer(bs, Map.of())) {
            c.assign(List.of(tp));
            check(c.beginningOffsets(List.of(tp)).get(tp) == 0, "beginning offset " + c.beginningOffsets(List.of(tp)));
            check(c.endOffsets(List.of(tp)).get(tp) == n, "end offset " + c.endOffsets(List.of(tp)));
            int[] probes = {0, 1, n / 3, n / 2, n - 1};
            for (int i : probes) {
                for (long delta : new long[] {0, -500}) {
                    long ts = t0 + 1000L * i + delta;
                    OffsetAndTimestamp ot = c.offsetsForTimes(Map.of(tp, ts)).get(tp);
                    check(ot != null && ot.offset() == i && ot.timestamp() == t0 + 1000L * i,
                            "offsetsForTimes(" + ts + ") = " + ot + ", want offset " + i);
                    c.seek(tp, ot.offset());
                    ConsumerRecords<byte[], byte[]> rs = ConsumerRecords.empty();
                    long deadline = System.nanoTime() + WAIT.toNanos();
                    while (rs.isEmpty() && System.nanoTime() < deadline) {
                        rs = c.poll(Duration.ofMillis(500));
                    }
                    var first = rs.records(tp).get(0);
                    check(first.offset() == i && s(first.value()).startsWith("r-" + i + "-"), "after seek to " + i + " read " + first.offset());
                }
            }
            OffsetAndTimestamp none = c.offsetsForTimes(Map.of(tp, t0 + 1000L * n)).get(tp);
            check(none == null, "offsetsForTimes past the last record = " + none + ", want null");
        }
        System.out.println("ok check-times " + n);
    }

    /**
     * Admin: create a topic with configs; describe them (source DYNAMIC_TOPIC_CONFIG);
     * alter incrementally (set, delete); add partitions; and the errors Kafka gives for an
     * existing topic, a replication factor above the broker count, an invalid config value,
     * an unknown topic and a missing group.
     */
    static void admin(String bs, String topic) throws Exception {
        try (Admin a = admin(bs)) {
            var nt = new NewTopic(topic, 2, (short) 1).configs(Map.of("retention.ms", "3600000", "cleanup.policy", "delete", "max.message.bytes", "200000"));
            a.createTopics(List.of(nt)).all().get();
            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config cfg = a.describeConfigs(List.of(res)).all().get().get(res);
            for (var kv : Map.of("retention.ms", "3600000", "max.message.bytes", "200000").entrySet()) {
                ConfigEntry e = cfg.get(kv.getKey());
                check(e != null && kv.getValue().equals(e.value()) && e.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
                        kv.getKey() + ": " + e);
            }
            ConfigEntry seg = cfg.get("segment.bytes");
            check(seg != null && seg.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "segment.bytes: " + seg);

            a.incrementalAlterConfigs(Map.of(res, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("max.message.bytes", null), AlterConfigOp.OpType.DELETE)))).all().get();
            cfg = a.describeConfigs(List.of(res)).all().get().get(res);
            check("7200000".equals(cfg.get("retention.ms").value()), "retention.ms after alter: " + cfg.get("retention.ms"));
            check(cfg.get("max.message.bytes").source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "max.message.bytes after delete: " + cfg.get("max.message.bytes"));

            a.createPartitions(Map.of(topic, NewPartitions.increaseTo(4))).all().get();
            TopicDescription td = a.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            check(td.partitions().size() == 4, "partitions after increase: " + td.partitions().size());

            Map<String, String> errors = new TreeMap<>();
            try {
                a.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
                check(false, "creating an existing topic succeeded");
            } catch (ExecutionException e) {
                errors.put("exists", cause(e, org.apache.kafka.common.errors.TopicExistsException.class).getMessage());
            }
            try {
                a.createTopics(List.of(new NewTopic(topic + "-rf", 1, (short) 3))).all().get();
                check(false, "replication factor 3 succeeded");
            } catch (ExecutionException e) {
                errors.put("rf", cause(e, org.apache.kafka.common.errors.InvalidReplicationFactorException.class).getMessage());
            }
            try {
                a.createTopics(List.of(new NewTopic(topic + "-bad", 1, (short) 1).configs(Map.of("retention.ms", "soon")))).all().get();
                check(false, "invalid retention.ms succeeded");
            } catch (ExecutionException e) {
                errors.put("config-create", cause(e, org.apache.kafka.common.errors.InvalidConfigurationException.class).getMessage());
            }
            try {
                a.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all().get();
                check(false, "invalid retention.ms alter succeeded");
            } catch (ExecutionException e) {
                errors.put("config-alter", cause(e, org.apache.kafka.common.errors.InvalidConfigurationException.class).getMessage());
            }
            try {
                a.describeTopics(List.of(topic + "-nosuch")).allTopicNames().get();
                check(false, "describing a missing topic succeeded");
            } catch (ExecutionException e) {
                errors.put("unknown-topic", cause(e, org.apache.kafka.common.errors.UnknownTopicOrPartitionException.class).getMessage());
            }
            try {
                a.describeConsumerGroups(List.of(topic + "-nosuch-group")).all().get();
                check(false, "describing a missing group succeeded");
            } catch (ExecutionException e) {
                errors.put("missing-group", cause(e, org.apache.kafka.common.errors.GroupIdNotFoundException.class).getMessage());
            }
            // Messages, for the Go side to compare with Apache Kafka's (topic name masked).
            for (var e : errors.entrySet()) {
                System.out.println("error " + e.getKey() + ": " + e.getValue().replace(topic, "TOPIC"));
            }
        }
        System.out.println("ok admin");
    }

    /** Produces 50 records and reads them back (for the security settings of STRATA_CLIENT_PROPS). */
    static void roundtrip(String bs, String topic) throws Exception {
        try (var p = producer(bs, Map.of(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true, ProducerConfig.ACKS_CONFIG, "all"))) {
            for (int i = 0; i < 50; i++) {
                p.send(new ProducerRecord<>(topic, 0, b("k" + i), b("v" + i))).get(60, TimeUnit.SECONDS);
            }
        }
        var got = readAll(bs, List.of(new TopicPartition(topic, 0)), 50);
        for (int i = 0; i < 50; i++) {
            check(s(got.get(i).value()).equals("v" + i), "record " + i + ": " + s(got.get(i).value()));
        }
        System.out.println("ok roundtrip 50");
    }

    /**
     * Transactions: commit 50 records over 3 partitions, abort 50 (flushed first), commit 50
     * more with an offset sent to the transaction; read_committed reads the 100 committed
     * records up to its end offsets (the LSO), read_uncommitted all 150; the group's offset
     * is the one sent; a second producer with the same transactional.id fences the first
     * (ProducerFencedException); Admin describes the transactional id.
     */
    static void transactions(String bs, String topic, String groupId) throws Exception {
        var tps = partitions(topic, 3);
        Map<String, Object> txn = Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "java-txn-" + topic);
        var p = producer(bs, txn);
        p.initTransactions();
        String[][] steps = {{"c1", "commit", ""}, {"ab", "abort", ""}, {"c2", "commit", "offsets"}};
        for (String[] st : steps) {
            p.beginTransaction();
            for (int i = 0; i < 50; i++) {
                p.send(new ProducerRecord<>(topic, i % 3, null, b(st[0] + "-" + i)));
            }
            if (!st[2].isEmpty()) {
                p.sendOffsetsToTransaction(Map.of(tps.get(0), new org.apache.kafka.clients.consumer.OffsetAndMetadata(77)),
                        new org.apache.kafka.clients.consumer.ConsumerGroupMetadata(groupId));
            }
            if (st[1].equals("commit")) {
                p.commitTransaction();
            } else {
                p.flush();
                p.abortTransaction();
            }
        }
        for (String level : new String[] {"read_committed", "read_uncommitted"}) {
            int n = 0, aborted = 0;
            try (var c = consumer(bs, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, level))) {
                c.assign(tps);
                c.seekToBeginning(tps);
                var ends = c.endOffsets(tps);
                long deadline = System.nanoTime() + WAIT.toNanos();
                boolean done = false;
                while (!done && System.nanoTime() < deadline) {
                    for (var r : c.poll(Duration.ofMillis(200))) {
                        n++;
                        if (s(r.value()).startsWith("ab-")) {
                            aborted++;
                        }
                    }
                    done = true;
                    for (var tp : tps) {
                        done &= c.position(tp) >= ends.get(tp);
                    }
                }
                check(done, level + ": did not reach the end offsets " + ends);
            }
            int wantN = level.equals("read_committed") ? 100 : 150, wantAborted = level.equals("read_committed") ? 0 : 50;
            check(n == wantN && aborted == wantAborted, level + ": " + n + " records (" + aborted + " aborted), want " + wantN + " (" + wantAborted + ")");
        }
        try (var a = admin(bs)) {
            var offs = a.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata().get();
            check(offs.get(tps.get(0)) != null && offs.get(tps.get(0)).offset() == 77, "group offset " + offs);
            var d = a.describeTransactions(List.of("java-txn-" + topic)).all().get().get("java-txn-" + topic);
            check(d.state() == org.apache.kafka.clients.admin.TransactionState.COMPLETE_COMMIT, "describeTransactions: " + d);
        }
        // A new incarnation fences the old producer.
        var p2 = producer(bs, txn);
        p2.initTransactions();
        boolean fenced = false;
        try {
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, null, b("zombie"))).get();
            p.commitTransaction();
        } catch (org.apache.kafka.common.errors.ProducerFencedException | ExecutionException e) {
            fenced = true;
        } catch (KafkaException e) {
            fenced = e.getCause() instanceof org.apache.kafka.common.errors.ProducerFencedException
                    || e instanceof org.apache.kafka.common.errors.InvalidProducerEpochException;
            if (!fenced) {
                throw e;
            }
        }
        check(fenced, "the old producer was not fenced");
        p.close(Duration.ZERO);
        p2.close();
        System.out.println("ok transactions committed=100 aborted=50 fenced");
    }

    /** The words of input line i of the streams-eos scenario. */
    static String eosLine(int i) {
        return "w" + (i % 13) + " w" + ((i * 7 + 3) % 13);
    }

    /**
     * Kafka Streams word count with processing.guarantee=exactly_once_v2 over the n lines
     * eosLine(0..n-1) of topic in (the Go test writes them, and kills and restarts the
     * broker meanwhile); a read_committed consumer of out waits until every word's latest
     * count is exact. A count above the exact one (a record counted twice) fails at once.
     */
    static void streamsEos(String bs, String in, String out, String appId, String stateDir, int n) throws Exception {
        if ("info".equals(System.getenv("STRATA_STREAMS_LOG"))) {
            org.apache.logging.log4j.core.config.Configurator.setLevel("org.apache.kafka.streams", org.apache.logging.log4j.Level.INFO);
            org.apache.logging.log4j.core.config.Configurator.setLevel("org.apache.kafka.clients.consumer.internals", org.apache.logging.log4j.Level.INFO);
            org.apache.logging.log4j.core.config.Configurator.setLevel("org.apache.kafka.clients.producer.internals", org.apache.logging.log4j.Level.INFO);
        }
        Map<String, Long> want = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            for (String w : eosLine(i).split(" ")) {
                want.merge(w, 1L, Long::sum);
            }
        }
        Properties p = base(bs);
        p.put(org.apache.kafka.streams.StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(org.apache.kafka.streams.StreamsConfig.PROCESSING_GUARANTEE_CONFIG, org.apache.kafka.streams.StreamsConfig.EXACTLY_ONCE_V2);
        p.put(org.apache.kafka.streams.StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(org.apache.kafka.streams.StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(org.apache.kafka.streams.StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(org.apache.kafka.streams.StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, org.apache.kafka.common.serialization.Serdes.StringSerde.class);
        p.put(org.apache.kafka.streams.StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, org.apache.kafka.common.serialization.Serdes.StringSerde.class);
        p.put(org.apache.kafka.streams.StreamsConfig.producerPrefix(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG), 300000);
        p.put(org.apache.kafka.streams.StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), 20000);
        var builder = new org.apache.kafka.streams.StreamsBuilder();
        builder.<String, String>stream(in)
                .flatMapValues(v -> Arrays.asList(v.split(" ")))
                .groupBy((k, w) -> w)
                .count()
                .toStream()
                .to(out, org.apache.kafka.streams.kstream.Produced.with(
                        org.apache.kafka.common.serialization.Serdes.String(), org.apache.kafka.common.serialization.Serdes.Long()));
        var streams = new org.apache.kafka.streams.KafkaStreams(builder.build(), p);
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("stream thread died, replacing it: " + e);
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
        });
        streams.start();
        Map<String, Long> got = new TreeMap<>();
        long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
        try (var c = new KafkaConsumer<String, Long>(consumerProps(bs))) {
            c.subscribe(List.of(out));
            while (!got.equals(want) && System.nanoTime() < deadline) {
                for (var r : c.poll(Duration.ofMillis(500))) {
                    long v = r.value();
                    check(v <= want.getOrDefault(r.key(), 0L), "word " + r.key() + " counted " + v + " times, more than the " + want.get(r.key()) + " it has");
                    got.put(r.key(), v);
                }
            }
        }
        streams.close(Duration.ofSeconds(20));
        check(got.equals(want), "final counts " + got + ", want " + want);
        System.out.println("ok streams-eos words=" + want.size() + " lines=" + n);
    }

    /**
     * Leaves a transaction open: a transactional producer (id txnId) writes three records
     * to partition 0 of topic, flushes them and the process halts without committing or
     * aborting, so the transaction stays Ongoing until its timeout (5 minutes). For the
     * kafka-transactions tool journey.
     */
    static void txnOpen(String bs, String topic, String txnId) throws Exception {
        var pr = producer(bs, Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId, ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 300000));
        pr.initTransactions();
        pr.beginTransaction();
        for (int i = 0; i < 3; i++) {
            pr.send(new ProducerRecord<>(topic, 0, b("k" + i), b("open-" + i))).get();
        }
        pr.flush();
        System.out.println("ok txn-open " + txnId);
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    /** The key and value of input record i of the streams-table scenario. */
    static String tableKey(int i) {
        return "k" + (i % 7);
    }

    /**
     * Kafka Streams (exactly_once_v2) keeps a KTable of the sum of the values per key of the
     * n records tableKey(i) -> i of topic in, in a persistent state store whose changelog is
     * a compacted topic. It waits until an interactive query of the store returns exactly
     * those sums. With mustRestore, the state directory is a fresh one, so the store must
     * have been rebuilt from its changelog (the restore listener counts the records).
     */
    static void streamsTable(String bs, String in, String appId, String stateDir, int n, boolean mustRestore) throws Exception {
        Map<String, Long> want = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            want.merge(tableKey(i), (long) i, Long::sum);
        }
        Properties p = base(bs);
        p.put(org.apache.kafka.streams.StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(org.apache.kafka.streams.StreamsConfig.PROCESSING_GUARANTEE_CONFIG, org.apache.kafka.streams.StreamsConfig.EXACTLY_ONCE_V2);
        p.put(org.apache.kafka.streams.StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(org.apache.kafka.streams.StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(org.apache.kafka.streams.StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        var str = org.apache.kafka.common.serialization.Serdes.String();
        var lng = org.apache.kafka.common.serialization.Serdes.Long();
        var builder = new org.apache.kafka.streams.StreamsBuilder();
        builder.stream(in, org.apache.kafka.streams.kstream.Consumed.with(str, str))
                .mapValues(v -> Long.parseLong(v))
                .groupByKey(org.apache.kafka.streams.kstream.Grouped.with(str, lng))
                .reduce(Long::sum, org.apache.kafka.streams.kstream.Materialized.<String, Long, org.apache.kafka.streams.state.KeyValueStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("sums")
                        .withKeySerde(str).withValueSerde(lng));
        var streams = new org.apache.kafka.streams.KafkaStreams(builder.build(), p);
        var restored = new java.util.concurrent.atomic.AtomicLong();
        streams.setGlobalStateRestoreListener(new org.apache.kafka.streams.processor.StateRestoreListener() {
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}
            public void onBatchRestored(TopicPartition tp, String store, long end, long n) { restored.addAndGet(n); }
            public void onRestoreEnd(TopicPartition tp, String store, long total) {}
        });
        streams.start();
        Map<String, Long> got = new TreeMap<>();
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        while (!got.equals(want) && System.nanoTime() < deadline) {
            Thread.sleep(200);
            if (streams.state() != org.apache.kafka.streams.KafkaStreams.State.RUNNING) {
                continue;
            }
            try {
                var store = streams.store(org.apache.kafka.streams.StoreQueryParameters.fromNameAndType("sums",
                        org.apache.kafka.streams.state.QueryableStoreTypes.<String, Long>keyValueStore()));
                got.clear();
                try (var it = store.all()) {
                    it.forEachRemaining(kv -> got.put(kv.key, kv.value));
                }
            } catch (org.apache.kafka.streams.errors.InvalidStateStoreException e) {
                // rebalancing or restoring: ask again
            }
        }
        // Leave the group on close (Streams does not by default), so that the restarted app
        // does not wait out the old member's session timeout.
        streams.close(org.apache.kafka.streams.CloseOptions.groupMembershipOperation(
                org.apache.kafka.streams.CloseOptions.GroupMembershipOperation.LEAVE_GROUP).withTimeout(Duration.ofSeconds(20)));
        check(got.equals(want), "table " + got + ", want " + want);
        check(!mustRestore || restored.get() > 0, "fresh state directory but nothing restored from the changelog");
        System.out.println("ok streams-table keys=" + want.size() + " records=" + n + " restored=" + restored.get());
    }

    static Properties consumerProps(String bs) throws Exception {
        Properties p = base(bs);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "streams-eos-checker");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, org.apache.kafka.common.serialization.LongDeserializer.class.getName());
        return p;
    }

    /**
     * One producer sends a record every 100 ms for the given seconds, each acknowledged
     * (acks=all) before the next: one connection kept busy across many SASL session
     * lifetimes, for re-authentication (KIP-368).
     */
    static void produceFor(String bs, String topic, long seconds) throws Exception {
        int n = 0;
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        try (var p = producer(bs, Map.of(ProducerConfig.ACKS_CONFIG, "all"))) {
            while (System.nanoTime() < end) {
                p.send(new ProducerRecord<>(topic, 0, b("k" + n), b("v" + n))).get(60, TimeUnit.SECONDS);
                n++;
                Thread.sleep(100);
            }
        }
        System.out.println("ok produce-for " + n);
    }
}
