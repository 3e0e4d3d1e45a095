package io.strata.jvmtests;

import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Share-group (KIP-932) scenarios of the Java KafkaShareConsumer, run like Scenarios (same
 * conventions: NAME BOOTSTRAP [args]; "ok NAME ..." on success, an exception otherwise).
 */
public final class ShareScenarios {
    private static final Duration WAIT = Duration.ofSeconds(90);

    public static void main(String[] args) throws Exception {
        String bs = args[1];
        String[] a = java.util.Arrays.copyOfRange(args, 2, args.length);
        switch (args[0]) {
            case "share" -> share(bs, a[0], a[1], Integer.parseInt(a[2]));
            case "share-limit" -> shareLimit(bs, a[0], a[1], Integer.parseInt(a[2]));
            case "share-exact" -> shareExact(bs, a[0], a[1], Integer.parseInt(a[2]), Integer.parseInt(a[3]));
            case "produce" -> produce(bs, a[0], Integer.parseInt(a[1]), Integer.parseInt(a[2]));
            default -> throw new IllegalArgumentException("unknown scenario " + args[0]);
        }
        System.exit(0);
    }

    static KafkaShareConsumer<byte[], byte[]> consumer(String bs, String group) throws Exception {
        return consumer(bs, group, 500);
    }

    static KafkaShareConsumer<byte[], byte[]> consumer(String bs, String group, int maxPollRecords) throws Exception {
        Properties p = Scenarios.base(bs);
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, maxPollRecords);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put("share.acknowledgement.mode", "explicit");
        return new KafkaShareConsumer<>(p);
    }

    /** Sets share.auto.offset.reset=earliest on the group (a GROUP config). */
    static void earliest(String bs, String group) throws Exception {
        try (Admin a = Scenarios.admin(bs)) {
            a.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.GROUP, group),
                    List.of(new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET))))
                    .all().get();
        }
    }

    static void produce(String bs, String topic, int from, int to) throws Exception {
        try (var p = Scenarios.producer(bs, Map.of())) {
            for (int i = from; i < to; i++) {
                p.send(new ProducerRecord<>(topic, null, Scenarios.b("v" + i)));
            }
            p.flush();
        }
        System.out.println("ok produce " + (to - from));
    }

    static void commit(KafkaShareConsumer<byte[], byte[]> c) {
        for (var e : c.commitSync().entrySet()) {
            Scenarios.check(e.getValue().isEmpty(), "acknowledgement of " + e.getKey() + " failed: " + e.getValue());
        }
    }

    /**
     * n records; a first member takes some and holds them without acknowledging (its locks
     * expire); a second member rejects every record i%10==3, releases every i%10==5 once and
     * accepts the rest. Every record ends accepted or rejected, none is delivered after it was
     * accepted or rejected, released and held records come back with a delivery count >= 2.
     */
    static void share(String bs, String topic, String group, int n) throws Exception {
        earliest(bs, group);
        produce(bs, topic, 0, n);
        Set<String> accepted = new HashSet<>(), rejected = new HashSet<>(), released = new HashSet<>(), held = new HashSet<>();
        Set<String> redelivered = new HashSet<>();
        try (var holder = consumer(bs, group, 20); var worker = consumer(bs, group)) {
            holder.subscribe(List.of(topic));
            worker.subscribe(List.of(topic));
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (held.isEmpty() && System.nanoTime() < deadline) {
                for (var r : holder.poll(Duration.ofMillis(500))) {
                    held.add(Scenarios.s(r.value()));
                }
            }
            Scenarios.check(!held.isEmpty(), "the holder got no records");
            while (accepted.size() + rejected.size() < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : worker.poll(Duration.ofMillis(500))) {
                    String v = Scenarios.s(r.value());
                    int i = Integer.parseInt(v.substring(1));
                    short dc = r.deliveryCount().orElse((short) 0);
                    Scenarios.check(!accepted.contains(v), v + " delivered after it was accepted");
                    Scenarios.check(!rejected.contains(v), v + " delivered after it was rejected");
                    if (held.contains(v)) {
                        Scenarios.check(dc >= 2, v + " held by the first member came back with delivery count " + dc);
                        redelivered.add(v);
                    }
                    if (i % 10 == 3) {
                        worker.acknowledge(r, AcknowledgeType.REJECT);
                        rejected.add(v);
                    } else if (i % 10 == 5 && released.add(v)) {
                        worker.acknowledge(r, AcknowledgeType.RELEASE);
                    } else {
                        Scenarios.check(!released.contains(v) || dc >= 2, v + " released came back with delivery count " + dc);
                        worker.acknowledge(r, AcknowledgeType.ACCEPT);
                        accepted.add(v);
                    }
                }
                commit(worker);
            }
        }
        Scenarios.check(accepted.size() + rejected.size() == n, "accepted " + accepted.size() + " + rejected " + rejected.size() + " of " + n);
        Scenarios.check(redelivered.equals(held), "held " + held.size() + ", redelivered " + redelivered.size());
        System.out.println("ok share n=" + n + " accepted=" + accepted.size() + " rejected=" + rejected.size()
                + " released=" + released.size() + " held=" + held.size());
    }

    /**
     * One record released at every delivery is delivered exactly limit times, then archived;
     * the others are accepted.
     */
    static void shareLimit(String bs, String topic, String group, int limit) throws Exception {
        earliest(bs, group);
        try (var p = Scenarios.producer(bs, Map.of())) {
            p.send(new ProducerRecord<>(topic, null, Scenarios.b("poison")));
            for (int i = 0; i < 5; i++) {
                p.send(new ProducerRecord<>(topic, null, Scenarios.b("ok" + i)));
            }
            p.flush();
        }
        int deliveries = 0, ok = 0;
        try (var c = consumer(bs, group)) {
            c.subscribe(List.of(topic));
            long deadline = System.nanoTime() + WAIT.toNanos();
            long quietUntil = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(deadline, quietUntil)) {
                for (var r : c.poll(Duration.ofMillis(500))) {
                    if (Scenarios.s(r.value()).equals("poison")) {
                        deliveries++;
                        Scenarios.check(r.deliveryCount().orElse((short) 0) == deliveries, "delivery count " + r.deliveryCount() + " at delivery " + deliveries);
                        c.acknowledge(r, AcknowledgeType.RELEASE);
                    } else {
                        ok++;
                        c.acknowledge(r, AcknowledgeType.ACCEPT);
                    }
                }
                commit(c);
                if (deliveries >= limit && ok >= 5 && quietUntil == Long.MAX_VALUE) {
                    quietUntil = System.nanoTime() + Duration.ofSeconds(3).toNanos(); // nothing more may come
                }
            }
        }
        Scenarios.check(deliveries == limit, "poison delivered " + deliveries + " times, limit " + limit);
        Scenarios.check(ok == 5, "accepted " + ok + " of 5");
        System.out.println("ok share-limit deliveries=" + deliveries);
    }

    /** Consumes and accepts exactly the records v{from}..v{to-1}, each once, and nothing else. */
    static void shareExact(String bs, String topic, String group, int from, int to) throws Exception {
        earliest(bs, group);
        Map<String, Integer> seen = new HashMap<>();
        try (var c = consumer(bs, group)) {
            c.subscribe(List.of(topic));
            long deadline = System.nanoTime() + WAIT.toNanos();
            long quietUntil = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(deadline, quietUntil)) {
                for (var r : c.poll(Duration.ofMillis(500))) {
                    String v = Scenarios.s(r.value());
                    int i = Integer.parseInt(v.substring(1));
                    Scenarios.check(i >= from && i < to, "unexpected record " + v);
                    Scenarios.check(seen.merge(v, 1, Integer::sum) == 1, v + " delivered twice");
                    c.acknowledge(r, AcknowledgeType.ACCEPT);
                }
                commit(c);
                if (seen.size() == to - from && quietUntil == Long.MAX_VALUE) {
                    quietUntil = System.nanoTime() + Duration.ofSeconds(2).toNanos();
                }
            }
        }
        Scenarios.check(seen.size() == to - from, "got " + seen.size() + " of " + (to - from));
        System.out.println("ok share-exact " + seen.size());
    }
}
