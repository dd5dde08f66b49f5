//! Which texts of a batch go to ONNX Runtime together. A text model's
//! `Tokenizer` pads every text of a call to the longest one, and the ops
//! after it work on the padded matrix: one 1,000-character description in a
//! batch of 512 short names made the call 5.5x slower (30.8 vs 5.6 ms) and
//! its working memory 33 MB larger (docs/performance.md, round 6). So a batch
//! whose lengths differ much is scored in calls of similar lengths.

/// Padding one call may carry, in bytes of text: some 0.8 ms of ONNX Runtime's
/// time, 2-3x what one more call costs (~0.3 ms for the bundled text model),
/// so a text that would pad its call by more starts the next call.
const MAX_PADDING: usize = 16 * 1024;

/// Padded bytes per call (rows x longest): bounds ONNX Runtime's working
/// memory to ~8 MB whatever `BATCH_SIZE` and `MAX_TEXT_CHARS` are.
const MAX_PADDED: usize = 128 * 1024;

/// The calls for texts of these lengths (bytes): each is a list of indexes
/// into `lengths`; together they hold every index once. A batch that pads
/// little is one call in its own order.
pub fn calls(lengths: &[usize]) -> Vec<Vec<usize>> {
    if lengths.is_empty() {
        return Vec::new();
    }
    // An empty text still takes a column of the padded matrix.
    let cost = |i: usize| lengths[i].max(1);
    let total: usize = (0..lengths.len()).map(cost).sum();
    let longest = (0..lengths.len()).map(cost).max().unwrap_or(1);
    let padded = lengths.len() * longest;
    if padded <= MAX_PADDED && padded - total <= MAX_PADDING {
        return vec![(0..lengths.len()).collect()];
    }
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| cost(i));
    let mut calls = Vec::new();
    let mut call: Vec<usize> = Vec::new();
    let mut sum = 0;
    for i in order {
        // In ascending order, this text is the longest of its call.
        let padded = (call.len() + 1) * cost(i);
        if !call.is_empty() && (padded > MAX_PADDED || padded - (sum + cost(i)) > MAX_PADDING) {
            calls.push(std::mem::take(&mut call));
            sum = 0;
        }
        call.push(i);
        sum += cost(i);
    }
    if !call.is_empty() {
        calls.push(call);
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_index_once(lengths: &[usize], calls: &[Vec<usize>]) {
        let mut seen: Vec<usize> = calls.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
    }

    #[test]
    fn names_of_similar_length_are_one_call_in_their_order() {
        let lengths: Vec<usize> = (0..512).map(|i| 35 + i % 44).collect();
        assert_eq!(calls(&lengths), vec![(0..512).collect::<Vec<_>>()]);
        assert!(calls(&[]).is_empty());
        assert_eq!(calls(&[0, 0, 3]), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn one_long_description_among_names_is_a_call_of_its_own() {
        let mut lengths = vec![55; 512];
        lengths[7] = 1000;
        let calls = calls(&lengths);
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[1], vec![7]);
        every_index_once(&lengths, &calls);
    }

    #[test]
    fn calls_pad_at_most_their_share_and_stay_within_the_memory_bound() {
        // Lengths spread evenly from 1 to 1,000, shuffled.
        let lengths: Vec<usize> = (0..512).map(|i| (i * 389) % 1000 + 1).collect();
        let calls = calls(&lengths);
        every_index_once(&lengths, &calls);
        for call in &calls {
            let longest = call.iter().map(|&i| lengths[i]).max().unwrap_or(0);
            let total: usize = call.iter().map(|&i| lengths[i]).sum();
            assert!(call.len() * longest <= MAX_PADDED, "{} rows of up to {longest}", call.len());
            assert!(call.len() * longest - total <= MAX_PADDING || call.len() == 1);
        }
        assert!(calls.len() < 20, "{} calls for 512 texts", calls.len());
    }

    #[test]
    fn long_texts_alone_are_cut_into_calls_within_the_memory_bound() {
        let lengths = vec![1000; 512];
        let calls = calls(&lengths);
        assert_eq!(calls.len(), 4);
        assert!(calls.iter().all(|c| c.len() * 1000 <= MAX_PADDED));
        every_index_once(&lengths, &calls);
    }
}
