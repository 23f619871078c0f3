/*
 * readprof.c -- the point-read profile of issue 15 (not built by CMake: it
 * links LMDB and valgrind's callgrind.h, which tind does not need).
 *
 * Loads N keys (16-byte decimal, 100-byte values of 50 random printable
 * bytes twice, as tind-bench's) in a permuted order into tind (then
 * tind_flush + tind_compact: one fully compacted tree) or LMDB; the read
 * phase opens it, reads every key once (a warm block cache, 256 MiB or
 * $CACHE_MB), then makes G uniformly random gets with callgrind's
 * instrumentation on, and prints the thread CPU time per get (load on a
 * shared machine moves wall-clock time, not this much, and not instruction
 * counts).
 *
 *   gcc -O2 -g -Iinclude -Ibuild/include tools/microbench/readprof.c -o readprof \
 *       build/libtind.a -llmdb -lzstd -llz4 -lxxhash -lcrypto -lpthread -lm
 *   ./readprof tind load /tmp/t 2000000 ; ./readprof lmdb load /tmp/m 2000000
 *   valgrind --tool=callgrind --instr-atstart=no ./readprof tind read /tmp/t 2000000 200000 1
 *   valgrind --tool=callgrind --instr-atstart=no ./readprof lmdb read /tmp/m 2000000 200000
 *   (instructions per get = "Collected" / G; add --cache-sim=yes for misses)
 *
 * mode (tind): 0 tind_get + tind_free, 1 tind_get_into, 2 tind_multi_get of
 * 16 keys, 3 seekscan (tind-bench's: one iterator, tind_iter_refresh, seek a
 * random key and read 100 entries, key and value), 4 the feed's scan shape
 * (a reverse prefix scan: tind_iter_prefix over the key's first 14 digits,
 * a group of 100 keys, seek_for_prev past its end, 20 entries backwards);
 * LMDB: mode 3 is a cursor's MDB_SET_RANGE and 99 MDB_NEXT (the same 100 entries).
 * $SCANLEN: entries a scan reads (100).
 * Scan modes count G seeks (use a smaller G: instructions per seek =
 * "Collected" / G). $RI, $HR: the keyspace's restart interval and hash ratio at load;
 * $NOCOMPACT=1 at load: flush and wait for the compactions due, as tind-bench settles (more sources per get).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <valgrind/callgrind.h>
#include <lmdb.h>
#include "tind.h"
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}

static void key(char *o, uint64_t i){ for(int k=15;k>=0;k--){o[k]='0'+i%10;i/=10;} }
static uint64_t rng=88172645463325252ull;
static uint64_t xr(void){rng^=rng<<13;rng^=rng>>7;rng^=rng<<17;return rng;}
int main(int argc,char**argv){
  if(argc<5){fprintf(stderr,"usage: prof tind|lmdb load|read dir N [G] [mode]\n");return 2;}
  const char*eng=argv[1],*ph=argv[2],*dir=argv[3]; uint64_t N=strtoull(argv[4],0,10);
  uint64_t G=argc>5?strtoull(argv[5],0,10):200000; int mode=argc>6?atoi(argv[6]):0;
  char k[16], v[100]; memset(v,'v',100); int scanlen=getenv("SCANLEN")?atoi(getenv("SCANLEN")):100;
  if(!strcmp(eng,"tind")){
    tind_options*o=tind_options_new(); tind_options_set_cache_size(o,(size_t)(getenv("CACHE_MB")?atoi(getenv("CACHE_MB")):256)<<20);
    tind_db*db; int rc=tind_open(dir,o,&db); if(rc){printf("open %d\n",rc);return 1;}
    tind_keyspace*ks; tind_ks_options*ko=tind_ks_options_new(); if(getenv("RI"))tind_ks_options_set_restart_interval(ko,atoi(getenv("RI"))); if(getenv("HR"))tind_ks_options_set_hash_ratio(ko,atof(getenv("HR"))); rc=tind_keyspace_open(db,"bench",ko,&ks); if(rc){printf("ks %d %s\n",rc,tind_errmsg(db));return 1;}
    if(!strcmp(ph,"load")){
      uint64_t a=1000003; /* permutation i*a mod N */
      for(uint64_t i=0;i<N;i++){uint64_t j=(i*a)%N; key(k,j); for(int q=0;q<50;q++)v[q]=' '+xr()%95; memcpy(v+50,v,50); rc=tind_put(ks,k,16,v,100); if(rc){printf("put %d\n",rc);return 1;}}
      rc=tind_flush(ks); if(!rc&&!getenv("NOCOMPACT")) rc=tind_compact(ks); else if(!rc) rc=tind_wait_idle(db,600000); printf("compact %d\n",rc);
    } else {
      uint64_t found=0; void*val; size_t vl;
      for(uint64_t i=0;i<N;i++){key(k,i); if(tind_get(ks,k,16,NULL,&val,&vl)==0){found++;tind_free(val);}}
      printf("warm found %lu\n",(unsigned long)found); found=0;
      char buf[256]; (void)buf; tind_iter*sit=NULL; volatile uint8_t sink=0;
      if(mode==3&&tind_iter_range(ks,NULL,0,NULL,0,NULL,&sit)){printf("iter\n");return 1;}
      CALLGRIND_START_INSTRUMENTATION; double t0=now();
      for(uint64_t i=0;i<G;i++){key(k,xr()%N);
        if(mode==0){ if(tind_get(ks,k,16,NULL,&val,&vl)==0){found++;tind_free(val);} }
#ifndef BASE
        else if(mode==3){ tind_iter_refresh(sit); tind_iter_seek(sit,k,16);
          for(int q=0;q<scanlen&&tind_iter_valid(sit);q++){size_t kn,vn; const uint8_t*kp=tind_iter_key(sit,&kn),*vp=tind_iter_value(sit,&vn); sink^=kp[0]^vp[vn-1]; found++; tind_iter_next(sit);} }
        else if(mode==4){ char end[15]; memcpy(end,k,14); end[14]='~'; tind_iter*it; if(tind_iter_prefix(ks,k,14,NULL,&it)){printf("iter\n");return 1;}
          tind_iter_seek_for_prev(it,end,15);
          for(int q=0;q<20&&tind_iter_valid(it);q++){size_t kn,vn; const uint8_t*kp=tind_iter_key(it,&kn),*vp=tind_iter_value(it,&vn); sink^=kp[0]^vp[vn-1]; found++; tind_iter_prev(it);}
          tind_iter_free(it); }
        else if(mode==1){ if(tind_get_into(ks,k,16,NULL,buf,sizeof buf,&vl)==0&&vl==100)found++; }
        else { static char mk[16][16]; static const void*mkp[16]; static size_t mkl[16],mvl[16]; static void*mv[16]; static int mst[16];
          memcpy(mk[i%16],k,16); mkp[i%16]=mk[i%16]; mkl[i%16]=16;
          if(i%16==15){ tind_multi_get(ks,16,mkp,mkl,NULL,mv,mvl,mst); for(int q=0;q<16;q++){ if(mst[q]==0){found++;tind_free(mv[q]);} } } }
#endif
      }
      CALLGRIND_STOP_INSTRUMENTATION; double t1=now(); printf("%.0f ns/get\n",(t1-t0)*1e9/G);
      printf("found %lu of %lu\n",(unsigned long)found,(unsigned long)G); (void)sink; if(sit)tind_iter_free(sit);
      tind_ks_stats st; tind_ks_stats_get(ks,&st); printf("levels %u hits %lu misses %lu\n",st.levels,(unsigned long)st.cache_hits,(unsigned long)st.cache_misses);
      for(unsigned l=0;l<st.levels;l++)printf(" L%u tables %lu\n",l,(unsigned long)st.tables[l]);
    }
    tind_close(db);
  } else {
    MDB_env*env; mdb_env_create(&env); mdb_env_set_mapsize(env,(size_t)4<<30);
    int rc=mdb_env_open(env,dir,MDB_NOSYNC|MDB_NOMETASYNC|MDB_NORDAHEAD,0644); if(rc){printf("mdb open %s\n",mdb_strerror(rc));return 1;}
    MDB_dbi dbi; MDB_txn*t; mdb_txn_begin(env,0,0,&t); mdb_dbi_open(t,0,0,&dbi); mdb_txn_commit(t);
    if(!strcmp(ph,"load")){
      uint64_t a=1000003; mdb_txn_begin(env,0,0,&t);
      for(uint64_t i=0;i<N;i++){uint64_t j=(i*a)%N; key(k,j); for(int q=0;q<50;q++)v[q]=' '+xr()%95; memcpy(v+50,v,50); MDB_val kk={16,k},vv={100,v}; rc=mdb_put(t,dbi,&kk,&vv,0); if(rc){printf("put %s\n",mdb_strerror(rc));return 1;}
        if(i%10000==9999){mdb_txn_commit(t);mdb_txn_begin(env,0,0,&t);} }
      mdb_txn_commit(t);
    } else {
      uint64_t found=0; char *buf=malloc(256);
      mdb_txn_begin(env,0,MDB_RDONLY,&t);
      for(uint64_t i=0;i<N;i++){key(k,i); MDB_val kk={16,k},vv; if(mdb_get(t,dbi,&kk,&vv)==0)found++;}
      mdb_txn_reset(t);
      printf("warm found %lu\n",(unsigned long)found); found=0;
      CALLGRIND_START_INSTRUMENTATION; double t0=now();
      MDB_cursor*cur=NULL; volatile uint8_t sink=0; if(mode==3){mdb_txn_renew(t); mdb_cursor_open(t,dbi,&cur); mdb_txn_reset(t);}
      for(uint64_t i=0;i<G;i++){key(k,xr()%N); mdb_txn_renew(t); MDB_val kk={16,k},vv;
        if(mode==3){ mdb_cursor_renew(t,cur); int r=mdb_cursor_get(cur,&kk,&vv,MDB_SET_RANGE);
          for(int q=0;q<scanlen&&r==0;q++){ sink^=((uint8_t*)kk.mv_data)[0]^((uint8_t*)vv.mv_data)[vv.mv_size-1]; found++; r=mdb_cursor_get(cur,&kk,&vv,MDB_NEXT);} }
        else if(mdb_get(t,dbi,&kk,&vv)==0){found++; memcpy(buf,vv.mv_data,vv.mv_size);}
        mdb_txn_reset(t);}
      (void)sink; if(cur)mdb_cursor_close(cur);
      CALLGRIND_STOP_INSTRUMENTATION; double t1=now(); printf("%.0f ns/get\n",(t1-t0)*1e9/G);
      printf("found %lu of %lu\n",(unsigned long)found,(unsigned long)G);
      mdb_txn_abort(t);
    }
    mdb_env_close(env);
  }
  return 0;
}
