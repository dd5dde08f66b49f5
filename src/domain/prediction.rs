/// One row of model output: a probability per category, in model column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub probabilities: Vec<f32>,
}

impl Prediction {
    /// Index and probability of the most likely category; `None` for an empty
    /// row. NaN never wins.
    pub fn best(&self) -> Option<(usize, f32)> {
        self.probabilities.iter().copied().enumerate().filter(|(_, p)| !p.is_nan()).fold(
            None,
            |best, (i, p)| match best {
                Some((_, bp)) if bp >= p => best,
                _ => Some((i, p)),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_picks_the_highest_probability_and_first_on_ties() {
        let p = Prediction { probabilities: vec![0.2, 0.5, 0.5, f32::NAN] };
        assert_eq!(p.best(), Some((1, 0.5)));
        assert_eq!(Prediction { probabilities: vec![] }.best(), None);
    }
}
