//! One client of the model test: submits its rounds at once, predicts every outcome from its plain
//! model, and checks the store's answers and balances against it.

use super::*;

impl<'a> Client<'a> {
    pub(super) fn new(store: &'a dyn Store, number: u8, clock: &ManualClock) -> Client<'a> {
        let key = BrokerKey::generate();
        let mut codes = vec![root_code(store, &key), root_code(store, &key)];
        let seller = key.hash_code(&SecretCode::generate());
        issue(store, seller, "1");
        let shop = public_child(store, seller);
        // A child that expires in an hour, after every round.
        let hash = key.hash_code(&SecretCode::generate());
        let options = ChildOptions {
            expires_at: clock.now().plus_seconds(3600),
            ..ChildOptions::default()
        };
        let outcome = crate::tests::run(
            store,
            Command::Tree(tree::Command::CreateSecretChild {
                parent: cred(codes[0].hash),
                hash,
                amount: Amount::from_units(EXPIRING_UNITS).unwrap(),
                options,
            }),
        )
        .expect("the expiring child is made");
        codes[0].balance -= EXPIRING_UNITS;
        codes.push(Code {
            hash,
            parent: Some(0),
            id: view_of(&outcome),
            balance: EXPIRING_UNITS,
            expiring: true,
            ..codes[0].clone()
        });
        Client {
            store,
            key,
            number,
            codes,
            seller,
            seller_balance: 1_000_000,
            shop,
            keyed: Vec::new(),
            next_key: 0,
        }
    }

    fn credential(&self, code: usize, pin_shown: bool) -> Credential {
        let pin = match (self.codes[code].pin_generation, pin_shown) {
            (Some(generation), true) => PinPresented::Verified { generation },
            _ => PinPresented::Absent,
        };
        Credential {
            hash: self.codes[code].hash,
            pin,
        }
    }

    /// What a payment of `units` by `code` (with or without its PIN) should do, as the core rules.
    fn expect_pay(&self, code: usize, units: i64, pin_shown: bool) -> Expect {
        let c = &self.codes[code];
        match c.status {
            CodeStatus::Cancelled => return Expect::Err(OpError::InvalidCode),
            CodeStatus::Expired => return Expect::Err(OpError::Expired),
            CodeStatus::Active => {}
        }
        if c.pin_generation.is_some() && !pin_shown {
            return Expect::Err(OpError::PinRequired);
        }
        if let Some(max_units) = c.amount_max.filter(|max| units > *max) {
            return Expect::Err(OpError::Restricted(Restriction::AmountPerUse { max_units }));
        }
        if let Some(uses_max) = c.uses_max.filter(|max| c.uses >= *max) {
            return Expect::Err(OpError::Restricted(Restriction::UsesSpent { uses_max }));
        }
        if c.balance < units {
            return Expect::Err(OpError::InsufficientFunds);
        }
        Expect::Ok
    }

    /// Plans one round: at most one command per code, each with what the model expects and what
    /// the model does if it runs.
    pub(super) fn round(&mut self, ops: &[Op]) {
        let mut touched = HashSet::new();
        let mut sent: Vec<(Pending<Written>, Expect, Apply)> = Vec::new();
        let children: Vec<usize> = (0..self.codes.len())
            .filter(|i| self.codes[*i].parent.is_some())
            .collect();
        for op in ops {
            let n = self.codes.len();
            match op.clone() {
                Op::Pay {
                    code,
                    units,
                    pin_shown,
                    keyed,
                } => {
                    let code = code % n;
                    if !touched.insert(code) {
                        continue;
                    }
                    let command = paying(self.credential(code, pin_shown), &self.shop, units);
                    let expect = self.expect_pay(code, units, pin_shown);
                    let key = keyed.then(|| {
                        self.next_key += 1;
                        let mut key = [self.number; 32];
                        key[..4].copy_from_slice(&self.next_key.to_be_bytes());
                        key
                    });
                    let request = match key {
                        Some(key) => keyed_request(command, key),
                        None => WriteRequest::new(command),
                    };
                    sent.push((
                        self.store.write(request),
                        expect,
                        Box::new(move |client, outcome| {
                            client.paid(code, units);
                            if let (Some(key), Outcome::Payments(payments::Outcome::Paid(receipt))) = (key, outcome) {
                                client.keyed.push(Keyed {
                                    payer: code,
                                    units,
                                    key,
                                    receipt: receipt.id.clone(),
                                });
                            }
                        }),
                    ));
                }
                Op::Create {
                    root,
                    units,
                    uses_max,
                    amount_max,
                    irrevocable,
                } => {
                    if !touched.insert(root) {
                        continue;
                    }
                    let hash = self.key.hash_code(&SecretCode::generate());
                    let options = ChildOptions {
                        irrevocable,
                        restrictions: Restrictions {
                            uses_max,
                            amount_per_use_max: amount_max.map(|u| Amount::from_units(u).unwrap()),
                            ..Restrictions::default()
                        },
                        ..ChildOptions::default()
                    };
                    let command = Command::Tree(tree::Command::CreateSecretChild {
                        parent: cred(self.codes[root].hash),
                        hash,
                        amount: Amount::from_units(units).unwrap(),
                        options,
                    });
                    let expect = if self.codes[root].balance < units {
                        Expect::Err(OpError::InsufficientFunds)
                    } else {
                        Expect::Ok
                    };
                    sent.push((
                        self.store.write(WriteRequest::new(command)),
                        expect,
                        Box::new(move |client, outcome| {
                            client.codes[root].balance -= units;
                            client.codes.push(Code {
                                hash,
                                parent: Some(root),
                                id: view_of(outcome),
                                balance: units,
                                status: CodeStatus::Active,
                                uses_max,
                                uses: 0,
                                amount_max,
                                irrevocable,
                                pin_generation: None,
                                generation: 0,
                                expiring: false,
                            });
                        }),
                    ));
                }
                Op::Fund { code, units } => {
                    let Some(&code) = children.get(code % children.len()) else {
                        continue;
                    };
                    let parent = self.codes[code].parent.unwrap();
                    if touched.contains(&code) || !touched.insert(parent) {
                        continue;
                    }
                    touched.insert(code);
                    let command = Command::Tree(tree::Command::FundChild {
                        parent: cred(self.codes[parent].hash),
                        child: self.codes[code].id.clone(),
                        amount: Amount::from_units(units).unwrap(),
                    });
                    let expect = if self.codes[code].status == CodeStatus::Cancelled {
                        Expect::Err(OpError::NotFound("child (it was cancelled)"))
                    } else if self.codes[parent].balance < units {
                        Expect::Err(OpError::InsufficientFunds)
                    } else {
                        Expect::Ok
                    };
                    sent.push((
                        self.store.write(WriteRequest::new(command)),
                        expect,
                        Box::new(move |client, _| {
                            client.codes[parent].balance -= units;
                            client.codes[code].balance += units;
                        }),
                    ));
                }
                Op::Cancel { code } => {
                    let Some(&code) = children.get(code % children.len()) else {
                        continue;
                    };
                    let parent = self.codes[code].parent.unwrap();
                    // The expiring child is kept for the expiry at the end.
                    if self.codes[code].expiring || touched.contains(&code) || !touched.insert(parent) {
                        continue;
                    }
                    touched.insert(code);
                    let command = Command::Tree(tree::Command::CancelChild {
                        parent: cred(self.codes[parent].hash),
                        child: self.codes[code].id.clone(),
                    });
                    let expect = if self.codes[code].irrevocable {
                        Expect::Err(OpError::NotRevocable)
                    } else {
                        Expect::Ok
                    };
                    let reclaimed = self.codes[code].balance;
                    let was_active = self.codes[code].status == CodeStatus::Active;
                    sent.push((
                        self.store.write(WriteRequest::new(command)),
                        expect,
                        Box::new(move |client, outcome| {
                            let Outcome::Tree(tree::Outcome::Cancelled {
                                reclaimed_units,
                                codes_cancelled,
                                ..
                            }) = outcome
                            else {
                                panic!("a cancel answers with what it reclaimed: {outcome:?}")
                            };
                            assert_eq!(*reclaimed_units, reclaimed, "reclaimed value");
                            assert_eq!(*codes_cancelled, u32::from(was_active), "codes cancelled");
                            client.codes[parent].balance += reclaimed;
                            client.codes[code].balance = 0;
                            client.codes[code].status = CodeStatus::Cancelled;
                        }),
                    ));
                }
                Op::SetPin { code } => {
                    let Some(&code) = children.get(code % children.len()) else {
                        continue;
                    };
                    if !touched.insert(code) {
                        continue;
                    }
                    let command = Command::Controls(controls::Command::SetPin {
                        holder: self.credential(code, true),
                        pin_hash: Some(format!("$argon2id$model${}", self.codes[code].generation)),
                    });
                    let expect = match self.codes[code].status {
                        CodeStatus::Cancelled => Expect::Err(OpError::InvalidCode),
                        _ => Expect::Ok,
                    };
                    sent.push((
                        self.store.write(WriteRequest::new(command)),
                        expect,
                        Box::new(move |client, _| {
                            let c = &mut client.codes[code];
                            c.generation += 1;
                            c.pin_generation = Some(c.generation);
                        }),
                    ));
                }
                Op::Retry { which } => {
                    if self.keyed.is_empty() {
                        continue;
                    }
                    let keyed = self.keyed[which % self.keyed.len()].clone();
                    if !touched.insert(keyed.payer) {
                        continue;
                    }
                    // The same request as before: same key, same fingerprint, same body.
                    let command = paying(self.credential(keyed.payer, true), &self.shop, keyed.units);
                    sent.push((
                        self.store.write(keyed_request(command, keyed.key)),
                        Expect::Replayed(keyed.receipt),
                        Box::new(|_, _| {}),
                    ));
                }
            }
        }
        for (pending, expect, apply) in sent {
            let answer = pending.blocking_recv().expect("the store answers");
            match (expect, answer) {
                (Expect::Ok, Ok(Written::Done(outcome))) => apply(self, &outcome),
                (Expect::Replayed(receipt), Ok(Written::Replayed(stored))) => {
                    // The first response again, naming the first run's receipt: no second payment.
                    assert_eq!(stored.status, 201);
                    assert!(
                        String::from_utf8(stored.body).unwrap().contains(&receipt),
                        "replay of {receipt}"
                    );
                }
                (Expect::Err(expected), Err(got)) => assert_eq!(got, expected),
                (expect, got) => panic!("the model expected {expect:?}, the store answered {got:?}"),
            }
        }
        self.compare();
    }

    fn paid(&mut self, code: usize, units: i64) {
        let c = &mut self.codes[code];
        c.balance -= units;
        if c.uses_max.is_some() {
            c.uses += 1;
        }
        self.seller_balance += units;
    }

    /// Every code's balance and status as the store reads them, against the model.
    pub(super) fn compare(&self) {
        for (i, c) in self.codes.iter().enumerate() {
            let got = read(self.store, Query::Reports(reports::Query::Me { holder: c.hash }));
            match (c.status, got) {
                (CodeStatus::Cancelled, Err(OpError::InvalidCode)) => {}
                (status, Ok(QueryOutcome::Reports(reports::QueryOutcome::Code(view)))) => {
                    assert_eq!(view.status, status, "status of code {i}");
                    assert_eq!(
                        view.account.unwrap().balance_units,
                        c.balance,
                        "balance of code {i}: {c:?}"
                    );
                }
                (status, got) => panic!("code {i} should be {status:?}, the store read {got:?}"),
            }
        }
        let got = read(self.store, Query::Reports(reports::Query::Me { holder: self.seller }));
        let Ok(QueryOutcome::Reports(reports::QueryOutcome::Code(view))) = got else {
            panic!("the seller reads: {got:?}")
        };
        assert_eq!(
            view.account.unwrap().balance_units,
            self.seller_balance,
            "seller's balance"
        );
    }

    /// After the clock passed the expiry: the expiring child is refused at once.
    pub(super) fn expired_now(&mut self) {
        let code = 2;
        self.codes[code].status = CodeStatus::Expired;
        let expect = self.expect_pay(code, 1, true);
        let got = self
            .store
            .write(WriteRequest::new(paying(self.credential(code, true), &self.shop, 1)))
            .blocking_recv()
            .unwrap();
        assert!(
            matches!((&expect, &got), (Expect::Err(OpError::Expired), Err(OpError::Expired))),
            "{got:?}"
        );
    }

    /// Once the sweep ran, the expired child's value is back at its parent.
    pub(super) fn reverted(&mut self) -> bool {
        let parent = self.codes[2].parent.unwrap();
        let want = self.codes[parent].balance + self.codes[2].balance;
        let QueryOutcome::Reports(reports::QueryOutcome::Code(view)) = read(
            self.store,
            Query::Reports(reports::Query::Me {
                holder: self.codes[parent].hash,
            }),
        )
        .unwrap() else {
            panic!()
        };
        if view.account.unwrap().balance_units != want {
            return false;
        }
        self.codes[parent].balance = want;
        self.codes[2].balance = 0;
        true
    }
}
